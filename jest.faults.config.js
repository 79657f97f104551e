/** @type {import('jest').Config} */
const base = require('./jest.config.js');
module.exports = { ...base, testMatch: ['**/test/faults/**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/'], testTimeout: 600000 };
