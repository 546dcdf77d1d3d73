// Secret values for setup and doctor: from the environment variable of the same name, else asked
// for at the terminal (input hidden). ADMIN_TOKEN, shared by both Workers of an environment, can
// also be generated; a generated one is kept in .icepipe/deploy/<env>/ADMIN_TOKEN (mode 0600) so
// doctor and the user can call the admin endpoints with it.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { stateDir } from "./deployment.mjs";

export const interactive = () => Boolean(process.stdin.isTTY && process.stderr.isTTY);

/** Asks at the terminal without echoing the answer; null when there is no terminal. */
export function askHidden(question) {
  if (!interactive()) return Promise.resolve(null);
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    rl._writeToOutput = (s) => {
      if (s.includes(question)) process.stderr.write(s);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer.trim());
    });
  });
}

export function adminTokenFile(env) {
  return path.join(stateDir(env), "ADMIN_TOKEN");
}

/** A previously generated ADMIN_TOKEN, or null. */
export function savedAdminToken(env) {
  const file = adminTokenFile(env);
  return existsSync(file) ? readFileSync(file, "utf8").trim() || null : null;
}

function saveAdminToken(env, token) {
  const file = adminTokenFile(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, token + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/**
 * Resolves secret values on demand, once each. `describe(name)` says what a secret is for in
 * the prompt.
 */
export class SecretValues {
  constructor(env, describe = () => "") {
    this.env = env;
    this.describe = describe;
    this.values = new Map();
    this.notes = [];
  }

  /** The value of `name`, or null when none can be had (no variable, no terminal). */
  async get(name) {
    if (this.values.has(name)) return this.values.get(name);
    let value = process.env[name] || null;
    if (!value && name === "ADMIN_TOKEN") value = savedAdminToken(this.env);
    if (!value) {
      const hint = this.describe(name);
      const generate = name === "ADMIN_TOKEN" ? " (empty: generate one)" : "";
      value = (await askHidden(`  ${name}${hint ? ` (${hint})` : ""}${generate}: `)) || null;
    }
    if (!value && name === "ADMIN_TOKEN") {
      value = randomBytes(32).toString("base64url");
      const file = saveAdminToken(this.env, value);
      this.notes.push(`generated ADMIN_TOKEN, kept in ${file} (use it as: Authorization: Bearer $(cat ${file}))`);
    }
    this.values.set(name, value);
    return value;
  }
}
