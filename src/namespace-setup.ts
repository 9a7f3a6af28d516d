/**
 * What the namespace must hold before a backup can run: the project's search attributes (src/shared/search-attributes.ts).
 * A run whose workflow task upserts an unregistered attribute fails that task with BadSearchAttributes and Temporal
 * retries it for ever, so the worker checks at start (and, configured to, registers them) instead of letting the first
 * backup hang; the client API reads the same list when the server refuses a start, to name every missing one.
 */
import type { Connection } from '@temporalio/client';
import { TypedSearchAttributes, type SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from './shared/search-attributes';
import { SearchAttributesMissingError, type SearchAttributeProblem } from './client/errors';

const IVT = temporal.api.enums.v1.IndexedValueType;

/** The server's IndexedValueType of each SDK type (the SDK keeps its own table internal). */
const INDEXED: Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType> = {
  TEXT: IVT.INDEXED_VALUE_TYPE_TEXT,
  KEYWORD: IVT.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IVT.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IVT.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IVT.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: IVT.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: IVT.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** The type name the Temporal CLI takes (`--type Keyword`) for a server IndexedValueType. */
function cliTypeOf(v: temporal.api.enums.v1.IndexedValueType): string {
  const t = (Object.keys(INDEXED) as SearchAttributeType[]).find((k) => INDEXED[k] === v);
  return t ? TypedSearchAttributes.toMetadataType(t) : `type ${v}`;
}

/** Either connection class: both carry the same OperatorService. */
export type OperatorConnection = Pick<Connection, 'operatorService'>;

/** The project's search attributes the namespace lacks, or has with another type. Empty: all there. */
export async function searchAttributeProblems(conn: OperatorConnection, namespace: string): Promise<SearchAttributeProblem[]> {
  const res = await conn.operatorService.listSearchAttributes({ namespace });
  const have: Record<string, temporal.api.enums.v1.IndexedValueType> = { ...res.systemAttributes, ...res.customAttributes };
  const out: SearchAttributeProblem[] = [];
  for (const key of SEARCH_ATTRIBUTES) {
    const want = TypedSearchAttributes.toMetadataType(key.type);
    const found = have[key.name];
    if (found === undefined) out.push({ name: key.name, type: want });
    else if (found !== INDEXED[key.type]) out.push({ name: key.name, type: want, registeredAs: cliTypeOf(found) });
  }
  return out;
}

export interface EnsureOptions {
  /** Register the missing ones (operatorService.addSearchAttributes) instead of refusing to start. */
  register: boolean;
  log?: { info(msg: string, meta?: Record<string, unknown>): void; warn(msg: string, meta?: Record<string, unknown>): void };
}

/** gRPC codes of a server that does not let this caller read or change the namespace's attributes. */
const NOT_ALLOWED = new Set([7 /* PERMISSION_DENIED */, 12 /* UNIMPLEMENTED */]);

/**
 * Checks the namespace, registers what is missing when asked to, and throws SearchAttributesMissingError (naming them
 * and the `temporal operator search-attribute create` line) otherwise. Returns the names it registered.
 */
export async function ensureSearchAttributes(conn: OperatorConnection, namespace: string, opts: EnsureOptions): Promise<string[]> {
  let problems: SearchAttributeProblem[];
  try {
    problems = await searchAttributeProblems(conn, namespace);
  } catch (err) {
    // Some hosted namespaces do not let a worker's credentials list attributes: the check cannot decide, so it does
    // not stop a worker that may well be set up correctly.
    if (NOT_ALLOWED.has((err as { code?: number }).code ?? -1)) {
      opts.log?.warn(`could not check the search attributes of namespace ${namespace}: ${(err as Error).message}`);
      return [];
    }
    throw err;
  }
  if (!problems.length) return [];
  const missing = problems.filter((p) => !p.registeredAs);
  // A registered attribute's type cannot be changed by adding it again: that one is always the operator's to fix.
  if (!opts.register || missing.length < problems.length) throw new SearchAttributesMissingError(namespace, problems);
  try {
    await conn.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        SEARCH_ATTRIBUTES.filter((k) => missing.some((p) => p.name === k.name)).map((k) => [k.name, INDEXED[k.type]]),
      ),
    });
  } catch (err) {
    throw new SearchAttributesMissingError(namespace, problems, { registerFailed: (err as Error).message });
  }
  const left = await searchAttributeProblems(conn, namespace);
  if (left.length) throw new SearchAttributesMissingError(namespace, left, { registerFailed: 'the server still lists them as missing' });
  const names = missing.map((p) => p.name);
  opts.log?.info(`registered search attributes in namespace ${namespace}: ${names.join(', ')}`);
  return names;
}
