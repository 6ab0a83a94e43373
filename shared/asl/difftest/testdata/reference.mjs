// reference.mjs runs every difftest case through aws-local-stepfunctions (an independent
// Amazon States Language interpreter) in one Node process and prints one JSON object that
// maps each case name to its outcome.
//
//   node reference.mjs LIBRARY_ENTRY CASES_DIR [all|recorded]
//
// LIBRARY_ENTRY is the path of aws-local-stepfunctions' ESM build (build/main.node.esm.js);
// CASES_DIR holds the case files (*.json). Task states are answered by the case's stubs, and
// every Retry pause and literal Wait is overridden to 0 ms so that no case really sleeps.
//
// The library validates each definition with asl-validator, which builds a fresh JSON-schema
// validator per call (~0.1 s). Mode "all" (the default, used when recording) validates every
// case; mode "recorded" validates only the cases whose recorded outcome is INVALID and runs
// the rest unvalidated, which is what a routine comparison needs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [libraryEntry, casesDir, mode = 'all'] = process.argv.slice(2);
const { StateMachine } = await import(pathToFileURL(libraryEntry).href);

// canonical renders a JSON value with sorted object keys, so that inputs compare by value.
function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

// outcome turns one stub outcome into a value or a thrown error named like a Lambda error.
function outcome(o, input) {
  if (o.echo) return input;
  if ('error' in o) {
    const err = new Error(o.cause ?? '');
    err.name = o.error;
    throw err;
  }
  return o.result ?? null;
}

// stubHandler answers a Task state from its stub: a fixed outcome, a sequence consumed call
// by call (the last one repeats), or outcomes chosen by the task's input.
function stubHandler(stub, calls) {
  let n = 0;
  return async (input) => {
    calls.push(input);
    if (stub.when) {
      const key = canonical(input);
      const hit = stub.when.find((w) => canonical(w.input) === key);
      if (hit) return outcome(hit, input);
      if (stub.otherwise) return outcome(stub.otherwise, input);
      throw Object.assign(new Error('no stub for input ' + key), { name: 'Stub.NoMatch' });
    }
    if (stub.sequence) {
      const o = stub.sequence[Math.min(n, stub.sequence.length - 1)];
      n++;
      return outcome(o, input);
    }
    return outcome(stub, input);
  };
}

// statesWith collects the names of every state, at any depth, for which pick is true.
function statesWith(def, pick, acc = []) {
  for (const [name, st] of Object.entries(def.States ?? {})) {
    if (pick(st)) acc.push(name);
    for (const b of st.Branches ?? []) statesWith(b, pick, acc);
    const proc = st.ItemProcessor ?? st.Iterator;
    if (proc) statesWith(proc, pick, acc);
  }
  return acc;
}

async function runCase(c) {
  const calls = {};
  const taskResourceLocalHandlers = {};
  for (const [name, stub] of Object.entries(c.tasks ?? {})) {
    calls[name] = [];
    taskResourceLocalHandlers[name] = stubHandler(stub, calls[name]);
  }
  // A Wait with a literal Seconds or Timestamp is overridden to 0 ms; the *Path forms run
  // as written (the corpus keeps them at 0 or in the past) so that their checks still run.
  const waitTimeOverrides = {};
  for (const name of statesWith(c.definition, (st) => st.Type === 'Wait' && ('Seconds' in st || 'Timestamp' in st))) {
    waitTimeOverrides[name] = 0;
  }
  const retryIntervalOverrides = {};
  for (const name of statesWith(c.definition, (st) => Array.isArray(st.Retry))) {
    retryIntervalOverrides[name] = 0;
  }
  const validate = mode === 'all' || c.expected?.status === 'INVALID';
  let sm;
  try {
    sm = new StateMachine(c.definition, { validationOptions: validate ? { checkArn: false } : { noValidate: true } });
  } catch (e) {
    return { status: 'INVALID', error: String(e.message).split('\n')[0] };
  }
  const context = {
    Execution: { Name: 'difftest', Id: 'arn:aws:states:us-east-1:123456789012:execution:difftest:difftest' },
    StateMachine: { Name: 'difftest', Id: 'arn:aws:states:us-east-1:123456789012:stateMachine:difftest' },
  };
  const run = sm.run(c.input ?? {}, {
    overrides: { taskResourceLocalHandlers, retryIntervalOverrides, waitTimeOverrides },
    context,
  });
  let result;
  try {
    const output = await run.result;
    result = { status: 'SUCCEEDED', output: output === undefined ? null : output };
  } catch (e) {
    const err = e.cause ?? e;
    result = { status: 'FAILED', error: err.name, cause: err.message };
  }
  const sorted = {};
  for (const [name, list] of Object.entries(calls)) {
    sorted[name] = [...list].sort((a, b) => (canonical(a) < canonical(b) ? -1 : canonical(a) > canonical(b) ? 1 : 0));
  }
  if (Object.keys(sorted).length > 0) result.calls = sorted;
  return result;
}

const results = {};
const files = readdirSync(casesDir).filter((f) => f.endsWith('.json')).sort();
for (const f of files) {
  const c = JSON.parse(readFileSync(join(casesDir, f), 'utf8'));
  const name = f.replace(/\.json$/, '');
  try {
    results[name] = await runCase(c);
  } catch (e) {
    results[name] = { status: 'HARNESS_ERROR', error: String(e && e.stack || e) };
  }
}
process.stdout.write(JSON.stringify(results, null, 1) + '\n');
