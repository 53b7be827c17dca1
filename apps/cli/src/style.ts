/** A stream that may be a terminal. */
export interface MaybeTty {
  isTTY?: boolean;
}

/**
 * Whether to colour what goes to `stream`: only on a terminal, never with
 * NO_COLOR set (https://no-color.org) or TERM=dumb; FORCE_COLOR (not 0) forces it.
 */
export function useColor(stream: MaybeTty, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return stream.isTTY === true;
}

export type Paint = (text: string) => string;

/** ANSI styles for `stream`; each is the identity when colour is off. */
export function palette(stream: MaybeTty, env: NodeJS.ProcessEnv = process.env) {
  const on = useColor(stream, env);
  const style =
    (open: number, close: number): Paint =>
    (text) =>
      on ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    enabled: on,
    red: style(31, 39),
    green: style(32, 39),
    yellow: style(33, 39),
    dim: style(2, 22),
    bold: style(1, 22),
  };
}
