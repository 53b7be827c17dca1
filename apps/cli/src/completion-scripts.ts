import type { Command } from "commander";

/** One command of the tree, as the completion scripts need it. */
interface Node {
  path: string[];
  description: string;
  subcommands: Node[];
  options: { long?: string; short?: string; takesValue: boolean; choices?: readonly string[]; description: string }[];
  /** Choices of the first argument (e.g. `completion bash|zsh|fish`). */
  argumentChoices?: readonly string[];
}

function tree(command: Command, path: string[] = []): Node {
  const argumentChoices = command.registeredArguments[0]?.argChoices;
  return {
    path,
    description: command.description(),
    subcommands: command.commands.filter((sub) => sub.name() !== "help").map((sub) => tree(sub, [...path, sub.name()])),
    options: [
      ...command.options
        .filter((option) => !option.hidden)
        .map((option) => ({
          ...(option.long ? { long: option.long } : {}),
          ...(option.short ? { short: option.short } : {}),
          takesValue: option.required || option.optional,
          ...(option.argChoices ? { choices: option.argChoices } : {}),
          description: option.description,
        })),
      { long: "--help", short: "-h", takesValue: false, description: "show help" },
    ],
    ...(argumentChoices ? { argumentChoices } : {}),
  };
}

function flatten(node: Node): Node[] {
  return [node, ...node.subcommands.flatMap(flatten)];
}

/** The shell function's name: the program name with dashes as underscores. */
const functionName = (program: string) => `_${program.replace(/[^A-Za-z0-9]/g, "_")}`;

/** Bash: walks the words typed so far to the deepest command, then offers its subcommands, options or option values. */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const nodes = flatten(tree(program));
  const valued = [...new Set(nodes.flatMap((node) => node.options.filter((o) => o.takesValue).flatMap((o) => [o.long, o.short])))]
    .filter(Boolean)
    .join("|");
  const known = nodes
    .filter((node) => node.path.length > 0)
    .map((node) => `"${node.path.join(" ")}"`)
    .join("|");
  const choiceCases = nodes
    .flatMap((node) =>
      node.options
        .filter((o) => o.choices)
        .map((o) => `      ${[o.long, o.short].filter(Boolean).join("|")}) choices="${o.choices?.join(" ")}" ;;`),
    )
    .filter((line, index, all) => all.indexOf(line) === index);
  const pathCases = nodes.map((node) => {
    const words = [...node.subcommands.map((sub) => sub.path.at(-1)), ...(node.argumentChoices ?? [])].join(" ");
    const flags = node.options
      .flatMap((o) => [o.long, o.short])
      .filter(Boolean)
      .join(" ");
    return `    "${node.path.join(" ")}") words="${words}"; flags="${flags}" ;;`;
  });
  return `# ${name} bash completion: add to ~/.bashrc
#   source <(${name} completion bash)
${functionName(name)}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} path="" word skip=0 i words="" flags="" choices=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if ((skip)); then skip=0; continue; fi
    case "$word" in
      ${valued}) skip=1 ;;
      -*) ;;
      *) case "$path\${path:+ }$word" in
           ${known}) path="$path\${path:+ }$word" ;;
         esac ;;
    esac
  done
  case "$prev" in
${choiceCases.join("\n")}
  esac
  if [[ -n $choices ]]; then
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
    return
  fi
  case "$path" in
${pathCases.join("\n")}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -n $words ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}
complete -o default -F ${functionName(name)} ${name}
`;
}

/** Zsh: the bash function through zsh's bashcompinit. */
export function zshCompletion(program: Command): string {
  const name = program.name();
  return `#compdef ${name}
# ${name} zsh completion: add to ~/.zshrc
#   source <(${name} completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)
  .split("\n")
  .filter((line) => !line.startsWith("#"))
  .join("\n")}`;
}

/** Fish: one `complete` line per subcommand and option, conditioned on the subcommands already typed. */
export function fishCompletion(program: Command): string {
  const name = program.name();
  const quote = (text: string) => `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  const lines = [
    `# ${name} fish completion: save as ~/.config/fish/completions/${name}.fish`,
    `#   ${name} completion fish > ~/.config/fish/completions/${name}.fish`,
  ];
  for (const node of flatten(tree(program))) {
    const children = node.subcommands.map((sub) => sub.path.at(-1) ?? "");
    const inNode =
      node.path.length === 0 ? "__fish_use_subcommand" : node.path.map((word) => `__fish_seen_subcommand_from ${word}`).join("; and ");
    const beforeChild =
      children.length && node.path.length > 0 ? `${inNode}; and not __fish_seen_subcommand_from ${children.join(" ")}` : inNode;
    for (const sub of node.subcommands) {
      lines.push(`complete -c ${name} -f -n ${quote(beforeChild)} -a ${sub.path.at(-1)} -d ${quote(sub.description)}`);
    }
    if (node.argumentChoices) lines.push(`complete -c ${name} -f -n ${quote(inNode)} -a ${quote(node.argumentChoices.join(" "))}`);
    const optionCondition = node.path.length === 0 ? "" : ` -n ${quote(inNode)}`;
    for (const option of node.options) {
      const flags = [option.long ? `-l ${option.long.replace(/^--/, "")}` : "", option.short ? `-s ${option.short.replace(/^-/, "")}` : ""]
        .filter(Boolean)
        .join(" ");
      const value = option.choices ? ` -x -a ${quote(option.choices.join(" "))}` : option.takesValue ? " -r" : "";
      lines.push(`complete -c ${name}${optionCondition} ${flags}${value} -d ${quote(option.description)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
