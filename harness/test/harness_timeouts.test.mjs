// The harness's own guarantees against hangs: a stuck wait fails within its bound and says what it
// waited for, with the Workers' last log lines and the stack's state; a stuck child process is
// killed with everything it started; servers close with their open connections; Miniflare's
// blocking binding proxies are refused; and disposing Miniflare under a polling watcher (issue 17's
// hang) ends.
//
// Needs: crates/convert/build and the local stack for the Miniflare tests (as the other files).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { addTimeoutContext, boundedFetch, waitFor, WaitTimeout, within } from "../lib/bounded.mjs";
import { assertNothingLeftOpen } from "../lib/leftovers.mjs";
import { PROXIES_REFUSED, startConvert } from "../lib/miniflare.mjs";
import { ROOT, run, STACK_LOG } from "../lib/stack.mjs";
import { startSampleApi } from "../sample_api.mjs";

// Short bounds: these tests prove that waits end, they must not slow the suite.
const BOUND_MS = 300;
const TIMEOUT = { timeout: 60_000 };

after(assertNothingLeftOpen, { timeout: 120_000 });

/** Asserts that `promise` rejects with a WaitTimeout naming `step`; returns the error. */
async function assertTimesOut(promise, step) {
  const err = await promise.then(
    () => assert.fail(`expected a timeout waiting for ${step}`),
    (e) => e,
  );
  assert.ok(err instanceof WaitTimeout, `expected a WaitTimeout, got ${err.stack ?? err}`);
  assert.equal(err.step, step);
  return err;
}

describe("bounded waits", () => {
  test("a stuck wait fails within its bound, naming what it waited for, the parts' state and the stack's", TIMEOUT, async () => {
    const forget = addTimeoutContext("a pretend Worker", () => "[info] {\"event\":\"batch\",\"acked\":0}");
    try {
      const err = await assertTimesOut(
        waitFor(() => false, { timeoutMs: BOUND_MS, intervalMs: 20, what: "a condition that never holds" }),
        "a condition that never holds",
      );
      assert.match(err.message, /^timed out after 300 ms waiting for a condition that never holds\n/);
      assert.match(err.message, /--- a pretend Worker ---\n\[info\] \{"event":"batch","acked":0\}/);
      // stack.mjs adds the stack's state to every report: scripts/stack status and the log's tail.
      assert.match(err.message, /--- local stack \(scripts\/stack status, weed\.log\) ---\nicepipe stack: /);
      assert.ok(err.message.includes(`last lines of ${STACK_LOG}:`), err.message);
    } finally {
      forget();
    }
  });

  test("a probe that never returns does not hold its wait open", TIMEOUT, async () => {
    const err = await assertTimesOut(
      waitFor(() => new Promise(() => {}), { timeoutMs: BOUND_MS, what: "a probe that hangs" }),
      "a probe that hangs",
    );
    assert.match(err.message, /waiting for a probe that hangs \(last error: the last probe itself did not finish\)/);
  });

  test("a wait that cannot succeed gives up at once with the reason", TIMEOUT, async () => {
    const err = await assertTimesOut(
      waitFor(() => false, { timeoutMs: 600_000, what: "rows that will never land", failIf: () => "1 message(s) dead-lettered" }),
      "rows that will never land",
    );
    assert.match(err.message, /^gave up waiting for rows that will never land: 1 message\(s\) dead-lettered/);
  });

  test("within() aborts the work it gave up on", TIMEOUT, async () => {
    let seen;
    const err = await assertTimesOut(
      within(BOUND_MS, "a promise that never settles", (signal) => {
        seen = signal;
        return new Promise(() => {});
      }),
      "a promise that never settles",
    );
    assert.match(err.message, /^timed out after 300 ms waiting for a promise that never settles/);
    assert.equal(seen.aborted, true);
  });

  test("an HTTP server that never answers: the request fails within its bound", TIMEOUT, async () => {
    const server = http.createServer(() => {}); // accepts, never responds
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${server.address().port}/never`;
      await assertTimesOut(boundedFetch(url, {}, { timeoutMs: BOUND_MS, what: "GET /never" }), "GET /never");
    } finally {
      server.closeAllConnections();
      await within(5_000, "the silent server to close", new Promise((resolve) => server.close(resolve)));
    }
  });
});

describe("child processes", () => {
  test("a command that never ends is killed with the processes it started", TIMEOUT, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "icepipe-stuck-"));
    try {
      const pidFile = path.join(dir, "grandchild.pid");
      // The grandchild inherits the pipes: killing only the shell would leave the wait open.
      const stuck = run("bash", ["-c", `sleep 600 & echo $! > ${pidFile}; wait`], { timeoutMs: 1_000, what: "a shell that never ends" });
      await assertTimesOut(stuck, "a shell that never ends");
      const grandchild = Number(readFileSync(pidFile, "utf8"));
      await waitFor(() => !alive(grandchild), { timeoutMs: 5_000, what: `the grandchild (pid ${grandchild}) to be gone` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("servers", () => {
  test("the sample API closes although a client keeps a connection open", TIMEOUT, async () => {
    const api = await startSampleApi({ port: 0, posts: 1 });
    const agent = new http.Agent({ keepAlive: true });
    try {
      // A keep-alive connection that stays open after its response.
      await within(5_000, "GET /health on the sample API", new Promise((resolve, reject) => {
        http.get(`${api.url}/health`, { agent }, (res) => res.resume().on("end", resolve)).on("error", reject);
      }));
      assert.equal(Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length, 1);
      await within(5_000, "the sample API to close with a client's connection open", api.close());
    } finally {
      agent.destroy();
    }
  });
});

describe("Workers in workerd", () => {
  test("a Worker that never answers: the request fails within its bound with the Worker's last log lines", TIMEOUT, async () => {
    const w = await startConvert({
      extraWorkers: [
        {
          name: "stuck",
          modules: true,
          // A pending timer: workerd cancels a request with nothing left to wait for, not this one.
          script: `export default { async fetch() { console.log("about to wait forever"); await new Promise((r) => setTimeout(r, 600_000)); return new Response("late"); } };`,
          compatibilityDate: "2026-04-26",
          routes: ["stuck.local/*"],
        },
      ],
    });
    try {
      const err = await assertTimesOut(
        w.dispatch("http://stuck.local/", {}, { timeoutMs: 2_000, what: "GET / on the stuck Worker" }),
        "GET / on the stuck Worker",
      );
      assert.match(err.message, new RegExp(`--- Worker output \\(namespace root ${w.namespaceRoot}\\), last 40 lines ---\\n(.*\\n)*.*about to wait forever`));
    } finally {
      await w.dispose();
    }
  });

  test("Miniflare's blocking binding proxies are refused", TIMEOUT, async () => {
    const w = await startConvert({});
    try {
      for (const proxy of [() => w.mf.getR2Bucket("RAW"), () => w.mf.getQueueProducer("RAW_EVENTS"), () => w.mf.getWorker("convert")]) {
        await assert.rejects(proxy(), { message: PROXIES_REFUSED });
      }
    } finally {
      await w.dispose();
    }
  });

  // Issue 17's hang: a pipeline disposed while its watcher had an R2 listing in flight. The listing
  // came back after Miniflare had terminated its proxy thread; the next property read blocked the
  // main thread forever. A blocked main thread runs no timers, so the scenario runs in a child
  // process whose bound is enforced from here.
  test("disposing Miniflare while the watcher is polling ends promptly, every time", TIMEOUT, async () => {
    const lib = (name) => JSON.stringify(pathToFileURL(path.join(ROOT, "harness", "lib", name)).href);
    const scenario = `
      import { startConvert } from ${lib("miniflare.mjs")};
      import { Notifier } from ${lib("notifier.mjs")};
      // Few objects keep each poll short, so one is in flight most of the time (with the old proxies,
      // about every second round hung).
      for (let round = 0; round < 4; round++) {
        const w = await startConvert({});
        const n = new Notifier(w.mf);
        for (let i = 0; i < 2; i++) await n.put(\`sources/s/r/year=2026/month=01/day=01/\${i}.parquet\`, "x");
        const errors = [];
        const watcher = n.watch({ intervalMs: 1, onError: (e) => errors.push(e) });
        await new Promise((r) => setTimeout(r, 200));
        // No waiting for the poll in flight: dispose under it, as a failing test's cleanup might.
        const stopping = watcher.stop();
        await w.dispose();
        await stopping;
      }
      process.stdout.write("disposed 4 times\\n");
    `;
    const r = await run(process.execPath, ["--input-type=module", "-e", scenario], {
      timeoutMs: 45_000,
      what: "four Miniflare disposals under a polling watcher (in a child process: a hang there is issue 17's)",
    });
    assert.equal(r.code, 0, `the scenario failed:\n${r.stderr}`);
    assert.equal(r.stdout.trim(), "disposed 4 times");
  });
});
