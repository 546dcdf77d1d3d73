// A rules layer of the caller's own (stack/r2-rules, in this process, on an ephemeral loopback
// port) in front of the running stack's SeaweedFS catalog. The stack's own layer may run with the
// rate limits off (scripts/test and scripts/bench relax them for their time-compressed work); a
// layer started here enforces R2's documented rules unless `overrides` say otherwise. Used by the
// rules layer's own tests and by the sustained-load benchmark.
import { stackSettings } from "./stack.mjs";
import { createRulesServer } from "../../stack/r2-rules/server.mjs";

/** SeaweedFS's catalog: the stack's rules layer says where it is; without one the catalog URI is SeaweedFS. */
export async function seaweedUri(settings = stackSettings()) {
  const r = await fetch(`${settings.catalogUri}/_rules/stats`, { signal: AbortSignal.timeout(5000) }).catch(() => null);
  if (r?.ok) return (await r.json()).config.upstream;
  return settings.catalogUri;
}

/**
 * Starts the layer: `token` is the static token it accepts, `overrides` go into its configuration
 * (limits, commitLatencyMs, log, ...). Returns `{ url, token, state, settings, stop }`, where
 * `settings` are the stack's settings pointed at this layer (for a Worker or a client).
 */
export async function startRulesLayer({ token, overrides = {}, settings = stackSettings() }) {
  if (!settings.credential) throw new Error("a rules layer needs the stack's OAuth credential (ICEPIPE_CATALOG_CREDENTIAL) to reach SeaweedFS");
  const [clientId, clientSecret] = settings.credential.split(/:(.*)/s);
  const rules = createRulesServer({
    upstream: await seaweedUri(settings),
    clientId,
    clientSecret,
    token,
    s3: { endpoint: settings.s3Endpoint, region: settings.region, accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    ...overrides,
  });
  const { port } = await rules.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${port}`;
  return { url, token, state: rules.state, settings: { ...settings, catalogUri: url, token }, stop: () => rules.close() };
}
