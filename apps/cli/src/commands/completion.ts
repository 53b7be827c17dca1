import { Argument, type Command } from "commander";
import { bashCompletion, fishCompletion, zshCompletion } from "../completion-scripts.js";

const SHELLS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion } as const;

/** `completion bash|zsh|fish`: prints a shell completion script for every command and option. */
export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .addArgument(new Argument("<shell>", "the shell").choices(Object.keys(SHELLS)))
    .addHelpText(
      "after",
      `
Install:
  bash  echo 'source <(code-interpreter completion bash)' >> ~/.bashrc
  zsh   echo 'source <(code-interpreter completion zsh)' >> ~/.zshrc
  fish  code-interpreter completion fish > ~/.config/fish/completions/code-interpreter.fish`,
    )
    .action((shell: keyof typeof SHELLS) => {
      process.stdout.write(SHELLS[shell](program));
    });
}
