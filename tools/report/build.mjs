#!/usr/bin/env node
// Builds the offline single-file Allure 3 report and strips the analytics snippet Allure hard-codes into it.
//
//   node tools/report/build.mjs [--results DIR] [--output DIR] [--history FILE]
//
// Defaults (relative to the repository root): reports/allure-results, reports/allure-report,
// reports/allure-history.jsonl. Paths given on the command line are taken from the working directory.
// Exit codes: 0 built, 1 generation or verification failed, 2 bad usage or missing input.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const ALLURE_CLI = join(HERE, "node_modules", "allure", "cli.js");
const CONFIG = join(HERE, "allurerc.mjs");
const GENERATE_TIMEOUT_MS = 180_000;

// Anything that would make the report call home. The build fails if one of these survives stripping.
export const FORBIDDEN = ["googletagmanager", "gtag(", "google-analytics"];

class UsageError extends Error {}

function parseArgs(argv) {
  const options = {
    results: join(REPO, "reports", "allure-results"),
    output: join(REPO, "reports", "allure-report"),
    history: join(REPO, "reports", "allure-history.jsonl"),
  };
  const flags = { "--results": "results", "--output": "output", "--history": "history" };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      console.log("usage: node tools/report/build.mjs [--results DIR] [--output DIR] [--history FILE]");
      process.exit(0);
    }
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const key = flags[flag];
    if (!key) {
      throw new UsageError(`unknown argument '${arg}'; allowed: ${Object.keys(flags).join(", ")}`);
    }
    const value = inline ?? argv[(i += 1)];
    if (!value) {
      throw new UsageError(`${flag} needs a value`);
    }
    options[key] = resolve(value);
  }
  return options;
}

/** Removes the googletagmanager loader and the inline gtag/dataLayer block; returns [html, removed count]. */
export function stripAnalytics(html) {
  let removed = 0;
  // Scripts are matched one by one; the huge data: URIs live inside attributes, so [^>]* stays linear.
  const stripped = html.replace(/[ \t]*<script\b([^>]*)>([\s\S]*?)<\/script>[ \t]*\r?\n?/g, (block, attrs, body) => {
    const external = /\bsrc\s*=\s*["']?https?:/i.test(attrs);
    const analytics = /googletagmanager|google-analytics|\bgtag\s*\(|\bdataLayer\b/.test(attrs + body);
    if (external && !/googletagmanager|google-analytics/i.test(attrs)) {
      return block; // an unknown external script is reported by verify(), not silently dropped
    }
    if (analytics) {
      removed += 1;
      return "";
    }
    return block;
  });
  return [stripped, removed];
}

/** Returns the problems that make the report not self-contained or not analytics-free. */
export function verify(html) {
  const problems = [];
  for (const needle of FORBIDDEN) {
    if (html.includes(needle)) {
      problems.push(`'${needle}' is still in the report`);
    }
  }
  for (const match of html.matchAll(/<(script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?(https?:[^"'\s>]+)/gi)) {
    problems.push(`<${match[1]}> loads ${match[2]} from the network`);
  }
  return problems;
}

function countResults(dir) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    return -1;
  }
  return readdirSync(dir).filter((name) => name.endsWith("-result.json")).length;
}

function human(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${(bytes / 1024).toFixed(0)} kB`;
}

function show(path) {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

function main() {
  const started = process.hrtime.bigint();
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(ALLURE_CLI)) {
    throw new UsageError(`${show(ALLURE_CLI)} is missing; run 'npm ci --prefix tools/report' (or 'make report') first`);
  }
  const results = countResults(options.results);
  if (results < 0) {
    throw new UsageError(
      `${show(options.results)} is not a directory; produce results with ` +
        "'.venv/bin/pytest -m fast --alluredir reports/allure-results' first",
    );
  }
  if (results === 0) {
    throw new UsageError(`${show(options.results)} holds no *-result.json files; run pytest with --alluredir first`);
  }

  const index = join(options.output, "index.html");
  // A stale report from an earlier build must never pass for this one.
  for (const name of ["index.html", "summary.json", "test-results.json"]) {
    rmSync(join(options.output, name), { force: true });
  }

  const generated = spawnSync(
    process.execPath,
    [ALLURE_CLI, "generate", options.results, "--config", CONFIG, "--output", options.output],
    {
      cwd: REPO,
      env: { ...process.env, INFRACORE_REPORT_HISTORY: options.history, NO_COLOR: "1", FORCE_COLOR: "0" },
      encoding: "utf-8",
      timeout: GENERATE_TIMEOUT_MS,
      killSignal: "SIGKILL",
    },
  );
  if (generated.error || generated.status !== 0 || !existsSync(index)) {
    const why = generated.error
      ? generated.error.code === "ETIMEDOUT"
        ? `timed out after ${GENERATE_TIMEOUT_MS / 1000} s`
        : generated.error.message
      : generated.status !== 0
        ? `exited with ${generated.status ?? generated.signal}`
        : `wrote no ${show(index)}`;
    process.stderr.write(`${generated.stdout ?? ""}${generated.stderr ?? ""}`);
    console.error(`report: allure generate ${why}`);
    return 1;
  }

  const [html, removed] = stripAnalytics(readFileSync(index, "utf-8"));
  const problems = verify(html);
  if (problems.length > 0) {
    writeFileSync(index, html); // keep the evidence, but fail
    console.error(`report: ${show(index)} is not safe to open offline:\n  - ${problems.join("\n  - ")}`);
    return 1;
  }
  if (removed === 0) {
    // Allure's template changed: fine as long as verify() passed, but worth knowing when upgrading.
    console.error("report: note: no analytics snippet found to strip (Allure template changed?)");
  }
  writeFileSync(index, html);

  let stats = {};
  try {
    stats = JSON.parse(readFileSync(join(options.output, "summary.json"), "utf-8")).stats ?? {};
  } catch {
    // summary.json is informative only
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const counts = Object.entries(stats)
    .filter(([key]) => key !== "new")
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
  const url = pathToFileURL(index).href;
  console.log(
    `report: ${show(index)} (${human(statSync(index).size)}, ${results} results: ${counts || "no stats"}, ` +
      `analytics blocks stripped: ${removed}, ${seconds.toFixed(1)} s)`,
  );
  console.log(`report: history ${show(options.history)}`);
  console.log(`report: open it offline with: xdg-open ${show(index)}   (or paste ${url} into a browser)`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  try {
    process.exitCode = main();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`report: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(`report: ${error?.stack ?? error}`);
      process.exitCode = 1;
    }
  }
}
