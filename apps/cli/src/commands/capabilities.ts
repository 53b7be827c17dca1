import type { Command } from "commander";
import { print, table } from "../output.js";
import type { Context } from "./shared.js";

/** `capabilities`: what the server offers (GET /v1/capabilities): runtimes and the default, backend, languages, features. */
export function registerCapabilities(program: Command, context: Context): void {
  program
    .command("capabilities")
    .description("show what the server offers: sandbox runtimes (and its default), backend, languages, sessions, features")
    .action(async () => {
      const { client, output } = context();
      const capabilities = await client.capabilities();
      const features = Object.entries(capabilities.features)
        .filter(([, offered]) => offered)
        .map(([name]) => name.replaceAll("_", " "));
      const rows = [
        ["backend", capabilities.backend],
        [
          "runtimes",
          capabilities.runtimes.map((runtime) => (runtime === capabilities.default_runtime ? `${runtime} (default)` : runtime)).join(", "),
        ],
        ["languages", capabilities.languages.join(", ")],
        ["sessions", capabilities.sessions ? (capabilities.stateful_python ? "yes (stateful Python)" : "yes") : "no"],
        ["features", features.join(", ")],
        [
          "network",
          // An older server does not say: it offers none.
          capabilities.network?.offered
            ? `offered (--allow-out)${capabilities.network.secrets.length ? `; secrets: ${capabilities.network.secrets.join(", ")}` : ""}`
            : "not offered",
        ],
        ["file store", capabilities.file_store],
        ["version", capabilities.version],
      ];
      print(output, capabilities, table(rows));
    });
}
