#!/usr/bin/env node
// Entry point of the `goalkeeper` command: runs the compiled CLI (npm ci builds it via `prepare`).
require('../dist/src/cli.js')
  .main()
  .then((code) => process.exit(code));
