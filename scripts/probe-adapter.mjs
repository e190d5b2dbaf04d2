// Exit 0 when Dawn finds a WebGPU adapter; otherwise print why and exit 1.
// Kept dependency-free (no build needed) so setup can run it before compiling.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const backend = process.env.IVT_BACKEND;
const gpu = create(backend ? [`backend=${backend}`] : []);
const adapter = await gpu.requestAdapter(backend === 'opengles' ? { featureLevel: 'compatibility' } : {}).catch(() => null);
if (!adapter) { console.error('probe: no WebGPU adapter'); process.exit(1); }
const info = adapter.info;
console.log(`probe: ${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim());
process.exit(0);
