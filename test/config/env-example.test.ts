/**
 * .env.example lists every setting the configuration knows, and its defaults load cleanly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config';

const example = Object.fromEntries(
  readFileSync(join(__dirname, '..', '..', '.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

test('every configuration variable is in .env.example, and nothing else is', () => {
  expect(Object.keys(example).sort()).toEqual([...CONFIG_VARIABLES].sort());
});

test('the values in .env.example are the defaults', () => {
  expect(loadConfig(example)).toEqual(loadConfig({}));
});
