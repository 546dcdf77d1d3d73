// Test-only routes of the rules layer, under /_rules/ (outside /v1/, so no catalog route reaches
// them; R2 has nothing like them). Loopback only, no token: the stack binds 127.0.0.1.
//
//   GET    /_rules/health   200 when the layer runs
//   GET    /_rules/stats    counters (stats.mjs), the configuration, commits in flight, pending faults
//   POST   /_rules/reset    forgets counters, rate-limit windows and pending faults
//   GET    /_rules/faults   pending faults
//   POST   /_rules/faults   adds one (faults.mjs); 400 naming what is wrong
//   DELETE /_rules/faults   drops every pending fault
import { icebergError, json } from "./answers.mjs";

export const ADMIN_PREFIX = "/_rules/";

export function handleAdmin({ config, limiter, stats, faults, slots }, method, pathname, body) {
  const route = `${method} ${pathname.slice(ADMIN_PREFIX.length)}`;
  switch (route) {
    case "GET health":
      return json(200, { ok: true });
    case "GET stats":
      return json(200, {
        ...stats.snapshot(),
        config: describeConfig(config, limiter),
        inFlight: slots.busy,
        faults: { pending: faults.list(), fired: faults.fired },
      });
    case "POST reset":
      stats.reset();
      limiter.reset();
      faults.clear();
      return json(200, { ok: true });
    case "GET faults":
      return json(200, { pending: faults.list(), fired: faults.fired });
    case "POST faults":
      try {
        return json(200, { added: faults.add(JSON.parse(body.toString("utf8") || "{}")) });
      } catch (e) {
        return icebergError(400, "BadRequestException", e.message);
      }
    case "DELETE faults":
      faults.clear();
      return json(200, { ok: true });
    default:
      return icebergError(404, "NotFoundException", `no test route ${route} (see stack/r2-rules/admin.mjs)`);
  }
}

/** The configuration as the stats show it (never the tokens). */
function describeConfig(config, limiter) {
  return {
    upstream: config.upstream,
    limits: limiter.limits,
    countRejected: limiter.countRejected,
    retryAfterSeconds: limiter.retryAfterSeconds,
    commitLatencyMs: config.commitLatencyMs,
    concurrentUpdateError: config.concurrentUpdateError,
    requestTimeoutMs: config.requestTimeoutMs,
    oauth: config.oauth,
    readOnlyToken: Boolean(config.readOnlyToken),
    locationCheck: Boolean(config.s3),
  };
}
