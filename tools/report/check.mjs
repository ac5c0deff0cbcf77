#!/usr/bin/env node
// Opens the single-file Allure report in Debian's chromium, offline, and checks what an auditor must see.
//
//   node tools/report/check.mjs --expect FILE|JSON [--report FILE] [--screenshot FILE] [--timeout SECONDS]
//
// Expectations (JSON object; every key optional except tests):
//   {"tests":    [{"name": "D320 infra-core-baseline-contract-lock", "severity": "critical"}, ...],
//    "failing":  [{"name": "D127 ...", "attachment": "findings", "contains": "core_count_limit"}],
//    "waived":   [{"name": "D320 ...", "gap_id": "GAP-OP-1291"}]}
// "failing" and "waived" also accept a single object. Every request that is not file:, data:, blob: or
// 127.0.0.1 is aborted and counted; so are console errors. Prints one JSON summary on stdout and exits
// 0 when every check passed, 1 when one failed, 2 on bad usage or a missing browser or report.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ACTION_TIMEOUT_MS = 15_000;
// Closed network, running as root: no sandbox, no GPU, nothing that phones home, no name resolution but 127.0.0.1.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

// Allure 3 awesome UI hooks (pinned allure 3.18.0; they belong to the UI's internals).
const SEL = {
  tree: '[data-testid="tree-content"]',
  section: '[data-testid="tree-section"]',
  sectionTitle: '[data-testid="tree-section-title"]',
  leaf: '[data-testid="tree-leaf"]',
  leafTitle: '[data-testid="tree-leaf-title"]',
  resultTitle: '[data-testid="test-result-info-title"]',
  metadataItem: '[data-testid="metadata-item"]',
  metadataKey: '[data-testid="metadata-item-key"]',
  metadataValue: '[data-testid="metadata-item-value"]',
  attachment: '[data-testid="test-result-attachment"]',
  attachmentHeader: '[data-testid="test-result-attachment-header"]',
};

class UsageError extends Error {}

function parseArgs(argv) {
  const options = {
    report: join(REPO, "reports", "allure-report", "index.html"),
    screenshot: join(REPO, "reports", "allure-report-screenshot.png"),
    expect: undefined,
    timeout: 120,
  };
  const flags = { "--report": "report", "--screenshot": "screenshot", "--expect": "expect", "--timeout": "timeout" };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      console.log(
        "usage: node tools/report/check.mjs --expect FILE|JSON [--report FILE] [--screenshot FILE] [--timeout SECONDS]",
      );
      process.exit(0);
    }
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const key = flags[flag];
    if (!key) {
      throw new UsageError(`unknown argument '${arg}'; allowed: ${Object.keys(flags).join(", ")}`);
    }
    const value = inline ?? argv[(i += 1)];
    if (value === undefined || value === "") {
      throw new UsageError(`${flag} needs a value`);
    }
    options[key] = value;
  }
  if (!options.expect) {
    throw new UsageError("--expect is required: a JSON object or a file holding one (see the header of check.mjs)");
  }
  options.timeout = Number(options.timeout);
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) {
    throw new UsageError("--timeout must be a positive number of seconds");
  }
  options.report = resolve(options.report);
  options.screenshot = resolve(options.screenshot);
  options.expect = loadExpectations(options.expect);
  return options;
}

function asList(value, key) {
  if (value === undefined || value === null) {
    return [];
  }
  const list = Array.isArray(value) ? value : [value];
  for (const [i, item] of list.entries()) {
    if (typeof item !== "object" || item === null || typeof item.name !== "string" || !item.name) {
      throw new UsageError(`expectations: ${key}[${i}] needs a non-empty "name"`);
    }
  }
  return list;
}

function loadExpectations(source) {
  let text = source;
  if (!source.trimStart().startsWith("{")) {
    if (!existsSync(source)) {
      throw new UsageError(`--expect ${source}: no such file (pass a JSON object or a file holding one)`);
    }
    text = readFileSync(source, "utf-8");
  }
  let data;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--expect is not valid JSON: ${error.message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new UsageError("--expect must hold a JSON object");
  }
  const tests = asList(data.tests, "tests");
  if (tests.length === 0) {
    throw new UsageError('expectations: "tests" lists no test; an empty check proves nothing');
  }
  const failing = asList(data.failing, "failing");
  const waived = asList(data.waived, "waived");
  for (const [i, item] of waived.entries()) {
    if (typeof item.gap_id !== "string" || !item.gap_id) {
      throw new UsageError(`expectations: waived[${i}] needs a "gap_id"`);
    }
  }
  return { tests, failing, waived };
}

function isLocal(url) {
  if (/^(file|data|blob):/i.test(url)) {
    return true;
  }
  try {
    const { protocol, hostname } = new URL(url);
    return ["http:", "https:", "ws:", "wss:"].includes(protocol) && hostname === "127.0.0.1";
  } catch {
    return false;
  }
}

/** Clicks every collapsed tree section until none is left (a section is open when its subtree follows it). */
async function expandTree(page) {
  for (let round = 0; round < 50; round += 1) {
    const clicked = await page.$$eval(
      SEL.section,
      (sections, titleSel) => {
        let count = 0;
        for (const section of sections) {
          if (!section.nextElementSibling) {
            section.querySelector(titleSel)?.click();
            count += 1;
          }
        }
        return count;
      },
      SEL.sectionTitle,
    );
    if (clicked === 0) {
      return round;
    }
    await page.waitForTimeout(150);
  }
  throw new Error("the tree kept growing after 50 rounds of expanding");
}

/** Opens one test result by its tree id; returns false when its page does not show the expected title. */
async function openResult(page, baseUrl, id, name) {
  // A hash change is how the report itself routes between results; no reload of the 4 MB page.
  if (!page.url().startsWith(baseUrl)) {
    await page.goto(baseUrl, { timeout: ACTION_TIMEOUT_MS });
  }
  await page.evaluate((hash) => {
    window.location.hash = hash;
  }, id);
  try {
    await page.waitForFunction(
      ([sel, expected]) => document.querySelector(sel)?.textContent?.trim() === expected,
      [SEL.resultTitle, name],
      { timeout: ACTION_TIMEOUT_MS },
    );
  } catch {
    return false;
  }
  // Labels beyond the first few sit behind "Show more" buttons (no data-testid on those).
  const expandAll = () => {
    const buttons = [...document.querySelectorAll("button")].filter((b) => /^show more$/i.test(b.textContent.trim()));
    for (const button of buttons) {
      button.click();
    }
    return buttons.length === 0;
  };
  await page.waitForFunction(expandAll, undefined, { timeout: ACTION_TIMEOUT_MS, polling: 100 });
  return true;
}

async function labelValues(page, key) {
  return page.$$eval(
    SEL.metadataItem,
    (items, [keySel, valueSel, wanted]) =>
      items
        .filter((item) => item.querySelector(keySel)?.textContent?.trim() === wanted)
        .map((item) => item.querySelector(valueSel)?.textContent?.trim() ?? ""),
    [SEL.metadataKey, SEL.metadataValue, key],
  );
}

async function run(options, summary) {
  if (!existsSync(options.report)) {
    throw new UsageError(`${options.report} does not exist; build it first with 'make report'`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new UsageError(`${CHROMIUM} is missing; install it with 'apt-get install -y chromium' (or set CHROMIUM_PATH)`);
  }
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch {
    throw new UsageError("playwright-core is not installed; run 'npm ci --prefix tools/report' first");
  }

  const check = (name, ok, detail = {}) => summary.checks.push({ name, ok: Boolean(ok), ...detail });

  const profile = mkdtempSync(join(tmpdir(), "infracore-report-check-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    viewport: { width: 1280, height: 1400 },
    serviceWorkers: "block",
  });
  try {
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (isLocal(url)) {
        return route.continue();
      }
      summary.aborted_requests.push(url);
      return route.abort("blockedbyclient");
    });
    await context.routeWebSocket(/.*/, (ws) => {
      if (isLocal(ws.url())) {
        ws.connectToServer();
      } else {
        summary.aborted_requests.push(ws.url());
        ws.close();
      }
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error") {
        summary.console_errors.push(message.text());
      }
    });
    page.on("pageerror", (error) => summary.console_errors.push(`pageerror: ${error.message}`));

    const baseUrl = pathToFileURL(options.report).href;
    await page.goto(baseUrl, { timeout: ACTION_TIMEOUT_MS, waitUntil: "load" });
    await page.waitForSelector(`${SEL.tree} ${SEL.section}, ${SEL.tree} ${SEL.leaf}`, { timeout: ACTION_TIMEOUT_MS });
    const rounds = await expandTree(page);

    // Tree leaves by title: the title is the test name, the element id is the result id used in the URL hash.
    const leaves = await page.$$eval(
      SEL.leaf,
      (els, titleSel) =>
        els.map((el) => ({ id: el.id, name: el.querySelector(titleSel)?.textContent?.trim() ?? "" })),
      SEL.leafTitle,
    );
    summary.listed = leaves.map((leaf) => leaf.name);
    const byName = new Map();
    for (const leaf of leaves) {
      byName.set(leaf.name, [...(byName.get(leaf.name) ?? []), leaf.id]);
    }
    const missing = options.expect.tests.map((t) => t.name).filter((name) => !byName.has(name));
    check("tests listed in the expanded tree", missing.length === 0, {
      expected: options.expect.tests.length,
      listed: leaves.length,
      missing,
      expand_rounds: rounds,
    });
    // Clicking sections scrolls the report's own scroll container; show the summary header again.
    await page.evaluate(() => {
      for (const el of [document.scrollingElement, ...document.querySelectorAll("*")]) {
        if (el && el.scrollTop > 0) {
          el.scrollTop = 0;
        }
      }
    });
    await page.screenshot({ path: options.screenshot, fullPage: true, timeout: ACTION_TIMEOUT_MS });
    summary.screenshot = options.screenshot;

    for (const test of options.expect.tests) {
      if (test.severity === undefined || !byName.has(test.name)) {
        continue;
      }
      if (!(await openResult(page, baseUrl, byName.get(test.name)[0], test.name))) {
        check(`severity of ${test.name}`, false, { error: "the test result page did not open" });
        continue;
      }
      const shown = await labelValues(page, "severity");
      check(`severity of ${test.name}`, shown.some((v) => v.toLowerCase() === String(test.severity).toLowerCase()), {
        expected: test.severity,
        shown,
      });
    }

    for (const failing of options.expect.failing) {
      const attachment = failing.attachment ?? "findings";
      const name = `${failing.name} shows its '${attachment}' attachment`;
      const ids = byName.get(failing.name);
      if (!ids || !(await openResult(page, baseUrl, ids[0], failing.name))) {
        check(name, false, { error: ids ? "the test result page did not open" : "not listed in the tree" });
        continue;
      }
      const block = page.locator(SEL.attachment).filter({ has: page.locator(SEL.attachmentHeader, { hasText: attachment }) });
      if ((await block.count()) === 0) {
        const headers = await page.locator(SEL.attachmentHeader).allInnerTexts();
        check(name, false, { error: "no such attachment", attachments: headers.map((h) => h.replace(/\s+/g, " ")) });
        continue;
      }
      // The header toggles the preview (collapsed when the page opens); its body must show the text.
      const wanted = failing.contains ?? "";
      const bodyText = () =>
        block.first().evaluate((el, headerSel) => {
          const header = el.querySelector(headerSel)?.innerText ?? "";
          return (el.innerText ?? "").replace(header, "").trim();
        }, SEL.attachmentHeader);
      if ((await bodyText()) === "") {
        await block.first().locator(`${SEL.attachmentHeader} button`).first().click();
      }
      const deadline = Date.now() + ACTION_TIMEOUT_MS;
      let body = await bodyText();
      while (!(body && body.includes(wanted)) && Date.now() < deadline) {
        await page.waitForTimeout(100);
        body = await bodyText();
      }
      check(name, body !== "" && body.includes(wanted), { contains: wanted || null, shown_text: body.slice(0, 400) });
      if (failing === options.expect.failing[0]) {
        const detail = options.screenshot.replace(/(\.png)?$/i, "-failing.png");
        await page.screenshot({ path: detail, fullPage: true, timeout: ACTION_TIMEOUT_MS });
        summary.failing_screenshot = detail;
      }
    }

    for (const waived of options.expect.waived) {
      const name = `${waived.name} shows gap ${waived.gap_id}`;
      const ids = byName.get(waived.name);
      if (!ids || !(await openResult(page, baseUrl, ids[0], waived.name))) {
        check(name, false, { error: ids ? "the test result page did not open" : "not listed in the tree" });
        continue;
      }
      // Where the gap id appears (label, link, status message, description) is up to the suite's Allure
      // output; the check only demands that an auditor looking at the result can read it.
      const text = await page.locator("body").innerText();
      check(name, text.includes(waived.gap_id), { found_in_page: text.includes(waived.gap_id) });
    }

    check("no request left the machine", summary.aborted_requests.length === 0, {
      aborted: summary.aborted_requests.length,
    });
    check("no console errors", summary.console_errors.length === 0, { errors: summary.console_errors.length });
  } finally {
    await context.close().catch(() => {});
    // Chromium may still flush its profile for a moment after close; retry until the folder is gone.
    for (let i = 0; i < 20 && existsSync(profile); i += 1) {
      rmSync(profile, { recursive: true, force: true });
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  summary.ok = summary.checks.length > 0 && summary.checks.every((c) => c.ok);
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
    mkdirSync(dirname(options.screenshot), { recursive: true });
  } catch (error) {
    console.error(`check: ${error.message}`);
    return 2;
  }
  // One bound on the whole check, whatever hangs (browser start, a stuck page).
  let timer;
  const watchdog = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${options.timeout} s`)), options.timeout * 1000);
  });
  const summary = {
    report: options.report,
    ok: false,
    error: null,
    checks: [],
    listed: [],
    aborted_requests: [],
    console_errors: [],
    screenshot: null,
  };
  let code;
  try {
    await Promise.race([run(options, summary), watchdog]);
    code = summary.ok ? 0 : 1;
  } catch (error) {
    // What was seen before the failure (aborted requests, console errors) still goes into the summary.
    summary.ok = false;
    summary.error = String(error?.message ?? error).split("\n")[0];
    console.error(`check: ${error instanceof UsageError ? error.message : (error?.stack ?? error)}`);
    code = error instanceof UsageError ? 2 : 1;
  } finally {
    clearTimeout(timer);
  }
  console.log(JSON.stringify(summary, null, 2));
  for (const failed of summary.checks.filter((c) => !c.ok)) {
    console.error(`check: FAILED ${failed.name}`);
  }
  return code;
}

// Exit explicitly: a browser left behind by a timeout must not keep the process alive.
process.exit(await main());
