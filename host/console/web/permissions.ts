// Permissions in words. Every power a plugin asks for becomes one consent
// item: a sentence an admin can read, a key to compare versions by, and
// how it goes back into a grant — so unticking an item narrows the grant,
// and an upgrade's new and dropped powers are a difference of item keys.

/** A plugin's permissions, as its manifest declares and a grant holds them. */
export interface Permissions {
  routes?: string[];
  storage?: string[];
  filesystem?: { name: string; mode: string }[];
  network?: string[];
  ui?: { slots?: string[]; pages?: boolean; theme?: boolean };
  modules?: { register?: string[]; extend?: string[] };
  database?: { read?: string[]; write?: string[] };
  config?: string[];
  secrets?: string[];
  headers?: string[];
}

/** A sentence: text, and names shown as code. */
export type Sentence = (string | { code: string })[];

/** One power a plugin asks for. */
export interface ConsentItem {
  /** Stable across versions: the same power has the same key. */
  key: string;
  /** What it allows, in words. */
  sentence: Sentence;
  /** Adds this power to `grant`. */
  addTo: (grant: Permissions) => void;
}

const code = (text: string) => ({ code: text });

function push<K extends string>(bag: Partial<Record<K, string[]>>, key: K, value: string): void {
  (bag[key] ??= []).push(value);
}

const HOOK_WORDS: Record<string, string> = {
  "before-create": "Check, change or refuse new records of ",
  "after-create": "Be told of each new record of ",
  "before-update": "Check, change or refuse changes to records of ",
  "after-update": "Be told of each change to records of ",
  "before-delete": "Check or refuse deleting records of ",
  "after-delete": "Be told of each deleted record of ",
};

function hookSentence(target: string): Sentence {
  const [module, hook] = target.split(".");
  const words = HOOK_WORDS[hook];
  return words ? [words, code(module)] : ["Run the hook ", code(hook), " of ", code(module)];
}

/** Every power `permissions` asks for, in a fixed order. */
export function consentItems(permissions: Permissions | null | undefined): ConsentItem[] {
  const p = permissions ?? {};
  const items: ConsentItem[] = [];
  const item = (key: string, sentence: Sentence, addTo: (grant: Permissions) => void) => items.push({ key, sentence, addTo });
  for (const route of p.routes ?? []) {
    const sentence: Sentence = route === "/" ? ["Answer web requests on all of its paths"] : ["Answer web requests under ", code(route)];
    item(`routes:${route}`, sentence, (g) => push(g, "routes", route));
  }
  for (const access of p.storage ?? []) {
    const sentence: Sentence = [access === "write" ? "Write its own data" : "Read its own data"];
    item(`storage:${access}`, sentence, (g) => push(g, "storage", access));
  }
  for (const dir of p.filesystem ?? []) {
    const verb = dir.mode === "rw" ? "Read and write files in its folder " : "Read files in its folder ";
    item(`filesystem:${dir.name}:${dir.mode}`, [verb, code(dir.name)], (g) => (g.filesystem ??= []).push({ ...dir }));
  }
  for (const host of p.network ?? []) {
    item(`network:${host}`, ["Call ", code(host), " over the network"], (g) => push(g, "network", host));
  }
  for (const slot of p.ui?.slots ?? []) {
    const sentence: Sentence = slot === "dashboard.widgets" ? ["Add widgets to the dashboard"] : ["Add components to the console's ", code(slot), " slot"];
    item(`ui.slots:${slot}`, sentence, (g) => push((g.ui ??= {}), "slots", slot));
  }
  if (p.ui?.pages) item("ui.pages", ["Add pages to the console"], (g) => ((g.ui ??= {}).pages = true));
  if (p.ui?.theme) item("ui.theme", ["Change the console's colours (a theme)"], (g) => ((g.ui ??= {}).theme = true));
  for (const module of p.modules?.register ?? []) {
    item(`modules.register:${module}`, ["Add the module ", code(module), " and keep its records"], (g) => push((g.modules ??= {}), "register", module));
  }
  for (const target of p.modules?.extend ?? []) {
    item(`modules.extend:${target}`, hookSentence(target), (g) => push((g.modules ??= {}), "extend", target));
  }
  for (const module of p.database?.read ?? []) {
    item(`database.read:${module}`, ["Read the org's ", code(module), " records"], (g) => push((g.database ??= {}), "read", module));
  }
  for (const module of p.database?.write ?? []) {
    item(`database.write:${module}`, ["Create, change and delete the org's ", code(module), " records"], (g) => push((g.database ??= {}), "write", module));
  }
  for (const key of p.config ?? []) {
    item(`config:${key}`, ["Read the setting ", code(key)], (g) => push(g, "config", key));
  }
  for (const key of p.secrets ?? []) {
    item(`secrets:${key}`, ["Read the secret ", code(key)], (g) => push(g, "secrets", key));
  }
  for (const header of p.headers ?? []) {
    const sentence: Sentence = header === "cookie" ? ["Receive callers' cookies"] : ["Receive callers' ", code("Authorization"), " header (their credentials)"];
    item(`headers:${header}`, sentence, (g) => push(g, "headers", header));
  }
  return items;
}

/** The grant holding exactly `items`. */
export function grantOf(items: ConsentItem[]): Permissions {
  const grant: Permissions = {};
  for (const item of items) item.addTo(grant);
  return grant;
}

/** Keys of the powers `grant` holds (`null`: never granted). */
export function grantedKeys(grant: unknown): Set<string> | null {
  if (grant === null || grant === undefined) return null;
  return new Set(consentItems(grant as Permissions).map((item) => item.key));
}

/** What a new version asks for beside the installed one's declaration. */
export interface Difference {
  added: ConsentItem[];
  removed: ConsentItem[];
  kept: ConsentItem[];
}

/** Compares two declarations item by item. */
export function difference(before: Permissions | null | undefined, after: Permissions | null | undefined): Difference {
  const old = consentItems(before);
  const next = consentItems(after);
  const oldKeys = new Set(old.map((item) => item.key));
  const nextKeys = new Set(next.map((item) => item.key));
  return {
    added: next.filter((item) => !oldKeys.has(item.key)),
    removed: old.filter((item) => !nextKeys.has(item.key)),
    kept: next.filter((item) => oldKeys.has(item.key)),
  };
}

/** The sentence as plain text. */
export function plainText(sentence: Sentence): string {
  return sentence.map((part) => (typeof part === "string" ? part : part.code)).join("");
}
