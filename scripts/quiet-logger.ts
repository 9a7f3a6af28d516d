/** A logger for bundleWorkflowCode that keeps webpack's chatter out of test and benchmark output (warnings and errors only). */
export const quietLogger = {
  log(): void {},
  trace(): void {},
  debug(): void {},
  info(): void {},
  warn(m: string): void {
    console.warn(m);
  },
  error(m: string): void {
    console.error(m);
  },
};
