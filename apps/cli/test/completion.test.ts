import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

/** What the bash completion offers for the words typed so far (the last one being completed). */
async function complete(script: string, words: string[]): Promise<string[]> {
  const line = ["code-interpreter", ...words].map((word) => `'${word}'`).join(" ");
  const result = spawnSync(
    "bash",
    ["-c", `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length}; _code_interpreter; printf '%s\\n' "\${COMPREPLY[@]}"`],
    { encoding: "utf8" },
  );
  expect(result.stderr).toBe("");
  return result.stdout.split("\n").filter(Boolean);
}

describe("code-interpreter completion", () => {
  it("prints a bash script that completes commands, subcommands, options and option values", async () => {
    const { stdout: script, code } = await runCli(["completion", "bash"]);
    expect(code).toBe(0);
    expect(script).toContain("complete -o default -F _code_interpreter code-interpreter");
    expect(await complete(script, ["se"])).toEqual(["serve", "session"]);
    expect(await complete(script, ["--url", "http://x", "files", ""])).toEqual(["upload", "ls", "get", "rm"]);
    expect(await complete(script, ["session", "create", "--"])).toEqual(expect.arrayContaining(["--ttl", "--file", "--help"]));
    expect(await complete(script, ["doctor", "--backend", ""])).toEqual(["auto", "local", "docker", "kubernetes"]);
    expect(await complete(script, ["completion", ""])).toEqual(["bash", "zsh", "fish"]);
    // A file argument is left to bash's own file completion.
    expect(await complete(script, ["exec", ""])).toEqual([]);
  });

  it("prints zsh and fish scripts", async () => {
    const zsh = await runCli(["completion", "zsh"]);
    expect(zsh.stdout).toMatch(/^#compdef code-interpreter/);
    expect(zsh.stdout).toContain("bashcompinit");
    expect(spawnSync("bash", ["-n"], { input: zsh.stdout.replace(/^autoload.*$/gm, "") }).status).toBe(0);
    const fish = await runCli(["completion", "fish"]);
    expect(fish.stdout).toContain("complete -c code-interpreter -f -n '__fish_use_subcommand' -a doctor");
    expect(fish.stdout).toContain(
      "complete -c code-interpreter -f -n '__fish_seen_subcommand_from files; and not __fish_seen_subcommand_from upload ls get rm' -a upload",
    );
    expect(fish.stdout).toMatch(/-n '__fish_seen_subcommand_from doctor' -l backend -s b -x -a 'auto local docker kubernetes'/);
  });

  it("refuses an unknown shell", async () => {
    const run = await runCli(["completion", "powershell"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("bash, zsh, fish");
  });
});
