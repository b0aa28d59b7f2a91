#!/usr/bin/env node
// The `mkube-cloud-controller-manager` command as npm links it at install time, before the TypeScript build exists: runs dist/src/bin/mkube-cloud-controller-manager.js.
const built = new URL('../dist/src/bin/mkube-cloud-controller-manager.js', import.meta.url);
import(built.href).catch((err) => { if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes(built.pathname)) throw err; process.stderr.write(`mkube-cloud-controller-manager: not built yet (${built.pathname} is missing): run \`npm run build\` (or \`npm start\` / \`npm test\`) at the repository root\n`); process.exit(1); });
