// Errors that are the user's to fix (bad input, bad flag, missing file). The CLI prints
// their message alone, without a stack trace, and exits non-zero. Everything else is a bug.
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Errors raised by the GPU itself: validation errors, out-of-memory, device loss. */
export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}
