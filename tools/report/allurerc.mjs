// Allure 3 configuration for infracore-verify: one self-contained index.html, history carried across runs.
// build.mjs passes INFRACORE_REPORT_HISTORY to redirect the history file (the suite's own test does);
// relative paths are taken from the repository root, whatever the working directory.
// Load it only through the pinned CLI (build.mjs runs tools/report/node_modules/allure/cli.js): importing the
// `allure` package evaluates its CLI, which is harmless only when that CLI is the process already running.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "allure";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const historyPath = resolve(repoRoot, process.env.INFRACORE_REPORT_HISTORY || "reports/allure-history.jsonl");

export default defineConfig({
  name: "infracore-verify",
  output: resolve(repoRoot, "reports/allure-report"),
  // JSON Lines, one entry per generated report: the trend charts and per-test history come from here.
  historyPath,
  historyLimit: 50,
  plugins: {
    awesome: {
      options: {
        reportName: "infracore-verify",
        singleFile: true,
        reportLanguage: "en",
        groupBy: ["epic", "feature"],
      },
    },
  },
});
