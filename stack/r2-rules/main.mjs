#!/usr/bin/env node
// The rules layer as a process: `node stack/r2-rules/main.mjs`, configured from the environment
// (config.mjs), started and stopped by scripts/stack. One JSON line per request on stdout (never a
// token); SIGTERM/SIGINT stop it at once.
import { configFromEnv } from "./config.mjs";
import { createRulesServer } from "./server.mjs";

let config;
try {
  config = configFromEnv();
} catch (e) {
  process.stderr.write(`r2-rules: ${e.message}\n`);
  process.exit(2);
}

const rules = createRulesServer(config);
try {
  const address = await rules.listen(config.port, "127.0.0.1");
  const { limits, commitLatencyMs, requestTimeoutMs, oauth } = config;
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), event: "listening", address: `${address.address}:${address.port}`, upstream: config.upstream, limits, commitLatencyMs, requestTimeoutMs, oauth })}\n`);
} catch (e) {
  process.stderr.write(`r2-rules: cannot listen on 127.0.0.1:${config.port}: ${e.message}\n`);
  process.exit(1);
}

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), event: "stopping", signal })}\n`);
    rules.close().then(() => process.exit(0));
    // In-flight requests (a commit held by an injected delay) do not keep it alive.
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
