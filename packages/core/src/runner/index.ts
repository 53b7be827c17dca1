// The TypeScript half of the wire protocol with the in-sandbox runner: the
// commands that start it, the request it reads, the framed answer it writes,
// and the channel a driver feeds with what the runner wrote.
export * from "./runner-channel.js";
export * from "./runner-commands.js";
export * from "./runner-protocol.js";
