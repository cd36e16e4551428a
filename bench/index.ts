// `npm run bench` runs the benchmark; `npm run bench -- soak [--minutes N]` runs the soak instead.
await (process.argv[2] === 'soak' ? import('./soak.js') : import('./run.js'));
