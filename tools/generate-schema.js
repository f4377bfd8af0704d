#!/usr/bin/env node
/** Regenerate packages/nx-vtm/manifest.schema.json from the zod schema (the drift test fails until you do). */
require('./ts-register');
const fs = require('node:fs');
const path = require('node:path');
const { buildManifestJsonSchema } = require('../packages/nx-vtm/src/manifest/schema.ts');

const file = path.join(__dirname, '../packages/nx-vtm/manifest.schema.json');
fs.writeFileSync(file, `${JSON.stringify(buildManifestJsonSchema(), null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
