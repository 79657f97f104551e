/**
 * Whether to colour what goes to a stream: only a terminal, and never with NO_COLOR set
 * (https://no-color.org: any non-empty value). FORCE_COLOR (non-empty, not "0") asks for colour
 * anyway, as most tools take it. One rule for logs, tables and the demo.
 */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}
