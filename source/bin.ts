#!/usr/bin/env node
// React's development build doubles the dashboard's cost per frame; it must be chosen before React loads.
process.env['NODE_ENV'] ??= 'production';
await import('./cli.js');
