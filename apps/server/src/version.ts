import packageJson from "../package.json" with { type: "json" };

/** The server's version, reported by `/health` (clients gate session features on it). */
export const VERSION: string = packageJson.version;
