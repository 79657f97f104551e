/**
 * .env.example lists every setting the configuration knows, and its defaults load cleanly;
 * docs/configuration.md documents each of them, and the colour conventions src/colour.ts reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config';

const root = join(__dirname, '..', '..');
const example = Object.fromEntries(
  readFileSync(join(root, '.env.example'), 'utf8')
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

test('docs/configuration.md has a table row for every setting, and for NO_COLOR and FORCE_COLOR', () => {
  // The first cell of each table row names its variables: | `A` | or | `A`, `B` |.
  const documented = new Set(
    readFileSync(join(root, 'docs', 'configuration.md'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .flatMap((line) => [...line.split('|')[1].matchAll(/`([A-Z_]+)`/g)].map((m) => m[1])),
  );
  const missing = [...CONFIG_VARIABLES, 'NO_COLOR', 'FORCE_COLOR'].filter((name) => !documented.has(name));
  expect(missing).toEqual([]);
});
