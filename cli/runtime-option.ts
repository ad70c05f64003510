/** The `--runtime` option of the commands that run a model, its choices taken from the runtime registry. */
import { registeredRuntimes } from '../model/runtimes/index.js';
import type { OptionSpec } from './command.js';

/** The `--runtime <name>` option: auto, then every registered runtime in auto's order of preference. */
export function runtimeOption(): OptionSpec {
  const names = registeredRuntimes().map((r) => r.name);
  return { type: 'string', valueName: 'name', description: `auto (default: the first available of ${names.join(', ')}; \`sharpstream runtimes\` says which), or one of them by name` };
}
