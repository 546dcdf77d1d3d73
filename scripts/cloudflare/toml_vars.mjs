// Writes plain vars into a wrangler TOML file's `[vars]` / `[env.<env>.vars]` table in place: one
// `NAME = "value"` line per var, replaced where it is or added at the end of the table, so the
// comments and the layout around it stay as they are.
import { readFileSync, writeFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";

const isHeader = (line) => /^\s*\[/.test(line);

/**
 * Sets `vars` in the vars table of `env` (undefined: the top-level `[vars]`). Returns the names
 * whose value changed (the file is written only then).
 */
export function setVars(file, env, vars) {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  const header = env ? `[env.${env}.vars]` : "[vars]";
  let start = lines.findIndex((l) => l.trim() === header);
  if (start < 0) {
    if (lines[lines.length - 1] !== "") lines.push("");
    lines.push(header);
    start = lines.length - 1;
    lines.push("");
  }
  let end = lines.findIndex((l, i) => i > start && isHeader(l));
  if (end < 0) end = lines.length;
  const changed = [];
  for (const [name, value] of Object.entries(vars)) {
    const wanted = `${name} = ${JSON.stringify(String(value))}`;
    const at = lines.findIndex((l, i) => i > start && i < end && new RegExp(`^\\s*${name}\\s*=`).test(l));
    if (at >= 0) {
      if (currentValue(lines[at]) === String(value)) continue;
      lines[at] = wanted;
    } else {
      // After the table's last key (comments below it introduce what follows the table).
      let last = end - 1;
      while (last > start && (lines[last].trim() === "" || lines[last].trim().startsWith("#"))) last--;
      lines.splice(last + 1, 0, wanted);
      end++;
    }
    changed.push(name);
  }
  if (changed.length) writeFileSync(file, lines.join("\n"));
  return changed;
}

function currentValue(line) {
  try {
    return String(Object.values(parseToml(line))[0]);
  } catch {
    return undefined;
  }
}
