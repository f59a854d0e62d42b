import type { EmbeddingRow, JsonValue } from "./documents.js";
import { rowField } from "./local-rows-file.js";

type Value = JsonValue | undefined;

type Node =
  | { kind: "or" | "and"; left: Node; right: Node }
  | { kind: "not"; operand: Node }
  | { kind: "compare"; operator: string; left: Operand; right: Operand }
  | { kind: "in"; negate: boolean; left: Operand; list: Value[] }
  | { kind: "like"; left: Operand; pattern: RegExp };

type Operand = { kind: "field"; path: string[] } | { kind: "literal"; value: Value };

const TOKEN =
  /\s*(?:(?<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?<operator>==|!=|<=|>=|&&|\|\||[<>()[\],!])|(?<word>[A-Za-z_$][\w$]*))/y;

/** The fields of a row a filter can name. */
const FIELDS = new Set(["id", "text", "title", "content_hash", "metadata"]);

function tokenize(expression: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  let position = 0;
  while (position < expression.length) {
    if (expression.slice(position).trim().length === 0) break;
    TOKEN.lastIndex = position;
    const match = TOKEN.exec(expression);
    if (!match) {
      const rest = expression.slice(position).trim();
      throw new SyntaxError(
        `filter: cannot read "${rest}" at character ${expression.length - rest.length + 1} of ${JSON.stringify(expression)}`,
      );
    }
    tokens.push(match[0].trim());
    position = TOKEN.lastIndex;
  }
  return tokens;
}

function parseString(token: string): string {
  const body = token.slice(1, -1);
  return body.replace(/\\(.)/g, (_, character: string) =>
    character === "n" ? "\n" : character === "t" ? "\t" : character,
  );
}

/**
 * Compiles a Milvus boolean expression into a predicate over rows, for the exact search over a
 * local rows file. The subset: fields `id`, `text`, `title`, `content_hash`, `metadata["key"]…`;
 * `== != < <= > >=`; `in [..]`, `not in [..]`; `like "prefix%"` (`%` any run, `_` one
 * character); `and`/`&&`, `or`/`||`, `not`/`!`; parentheses; string, number and boolean literals.
 * Anything else is a `SyntaxError`.
 *
 * @example
 * ```ts
 * const where = compileFilter('metadata["lang"] == "en" and id like "docs/%"');
 * ```
 */
export function compileFilter(expression: string): (row: EmbeddingRow) => boolean {
  if (typeof expression !== "string") throw new TypeError("filter must be a string");
  const tokens = tokenize(expression);
  let position = 0;
  const peek = () => tokens[position];
  const next = () => {
    const token = tokens[position++];
    if (token === undefined) throw new SyntaxError("filter: unexpected end");
    return token;
  };
  const expect = (wanted: string) => {
    const token = next();
    if (token.toLowerCase() !== wanted)
      throw new SyntaxError(`filter: expected "${wanted}", got "${token}"`);
  };
  const literal = (token: string): Value => {
    if (token.startsWith('"') || token.startsWith("'")) return parseString(token);
    if (/^-?\d/.test(token)) return Number(token);
    if (token.toLowerCase() === "true") return true;
    if (token.toLowerCase() === "false") return false;
    throw new SyntaxError(`filter: expected a value, got "${token}"`);
  };
  const operand = (): Operand => {
    const token = next();
    if (/^[A-Za-z_$]/.test(token) && !/^(true|false)$/i.test(token)) {
      // The collection has these fields and no dynamic field: Milvus refuses any other name.
      if (!FIELDS.has(token)) {
        throw new SyntaxError(
          `filter: unknown field "${token}" (the fields are id, text, title, content_hash, metadata["key"])`,
        );
      }
      const path = [token];
      while (peek() === "[") {
        next();
        const key = next();
        path.push(String(literal(key)));
        expect("]");
      }
      return { kind: "field", path };
    }
    return { kind: "literal", value: literal(token) };
  };
  const primary = (): Node => {
    if (peek() === "(") {
      next();
      const inner = or();
      expect(")");
      return inner;
    }
    const left = operand();
    const token = next();
    const lower = token.toLowerCase();
    if (lower === "in" || lower === "not") {
      if (lower === "not") expect("in");
      expect("[");
      const list: Value[] = [];
      while (peek() !== "]") {
        list.push(literal(next()));
        if (peek() === ",") next();
      }
      next();
      return { kind: "in", negate: lower === "not", left, list };
    }
    if (lower === "like") {
      const pattern = literal(next());
      if (typeof pattern !== "string") throw new SyntaxError("filter: like needs a string");
      const source = pattern
        .split("")
        .map((character) =>
          character === "%"
            ? ".*"
            : character === "_"
              ? "."
              : character.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
        )
        .join("");
      return { kind: "like", left, pattern: new RegExp(`^${source}$`, "s") };
    }
    if (!["==", "!=", "<", "<=", ">", ">="].includes(token)) {
      throw new SyntaxError(`filter: expected a comparison, got "${token}"`);
    }
    return { kind: "compare", operator: token, left, right: operand() };
  };
  const not = (): Node => {
    const token = peek()?.toLowerCase();
    if (token === "not" || token === "!") {
      next();
      return { kind: "not", operand: not() };
    }
    return primary();
  };
  const and = (): Node => {
    let left = not();
    while (peek()?.toLowerCase() === "and" || peek() === "&&") {
      next();
      left = { kind: "and", left, right: not() };
    }
    return left;
  };
  const or = (): Node => {
    let left = and();
    while (peek()?.toLowerCase() === "or" || peek() === "||") {
      next();
      left = { kind: "or", left, right: and() };
    }
    return left;
  };
  const tree = or();
  if (position !== tokens.length) throw new SyntaxError(`filter: unexpected "${tokens[position]}"`);
  return (row) => evaluate(tree, row);
}

function resolve(operand: Operand, row: EmbeddingRow): Value {
  if (operand.kind === "literal") return operand.value;
  let value: Value = rowField(row, operand.path[0]!);
  for (const key of operand.path.slice(1)) {
    value =
      value !== null && typeof value === "object" && !Array.isArray(value) ? value[key] : undefined;
  }
  return value;
}

function evaluate(node: Node, row: EmbeddingRow): boolean {
  switch (node.kind) {
    case "or":
      return evaluate(node.left, row) || evaluate(node.right, row);
    case "and":
      return evaluate(node.left, row) && evaluate(node.right, row);
    case "not":
      return !evaluate(node.operand, row);
    case "in": {
      const value = resolve(node.left, row);
      return node.list.includes(value) !== node.negate;
    }
    case "like": {
      const value = resolve(node.left, row);
      return typeof value === "string" && node.pattern.test(value);
    }
    case "compare": {
      const left = resolve(node.left, row);
      const right = resolve(node.right, row);
      if (node.operator === "==") return left === right;
      if (node.operator === "!=") return left !== right;
      if (typeof left !== typeof right || (typeof left !== "number" && typeof left !== "string"))
        return false;
      const l = left as number | string;
      const r = right as number | string;
      if (node.operator === "<") return l < r;
      if (node.operator === "<=") return l <= r;
      if (node.operator === ">") return l > r;
      return l >= r;
    }
  }
}
