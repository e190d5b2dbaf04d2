// Write a generated variant's WGSL to stdout: node gen_dump.mjs SG '{"S":1,...}'
const mod = await import('./mm_gen.mjs');
console.log(mod.gens[process.argv[2]](JSON.parse(process.argv[3])).code);
