/**
 * The directory holding goalkeeper's package.json: the same from src/ (ts-jest) and dist/src/, and
 * whatever the current directory, so a command run from inside the checkout (src/, docs/) finds the
 * same .goalkeeper as `npm start` run at its top.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function projectRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}
