#!/usr/bin/env node
// The `synapse-jobs` command (package.json "bin"): runs the TypeScript CLI through tsx's require hook.
require('tsx/cjs');
require('../client/cli/cli.ts');
