;; The JSON escaper of `json-escape.ts`: the body of `JSON.stringify(text)` (no quotes) from the
;; UTF-8 bytes of a well-formed text, 16 bytes at a time with SIMD where none needs escaping.
;; Build: `node scripts/build-wasm.mjs` writes json-escape-wasm.ts (the module, base64); a test
;; checks that the file is this source's binary.
(module
  (memory (export "memory") 2)
  ;; escape(src, n, dst) -> end: the JSON string body (no quotes) of the UTF-8 bytes src[0..n)
  ;; written at dst; returns the offset just past the last byte written.
  (func (export "escape") (param $src i32) (param $n i32) (param $dst i32) (result i32)
    (local $end i32) (local $b i32) (local $v v128) (local $stop i32)
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (loop $blocks
        ;; 16 bytes at a time while there are 16
        (br_if $done (i32.gt_u (i32.add (local.get $src) (i32.const 16)) (local.get $end)))
        (local.set $v (v128.load (local.get $src)))
        (if (i32.eqz (v128.any_true
              (v128.or
                (i8x16.lt_u (local.get $v) (i8x16.splat (i32.const 0x20)))
                (v128.or
                  (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x22)))
                  (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x5c)))))))
          (then
            (v128.store (local.get $dst) (local.get $v))
            (local.set $src (i32.add (local.get $src) (i32.const 16)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (br $blocks)))
        ;; a block with something to escape: its 16 bytes one by one
        (local.set $stop (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (call $bytes (local.get $src) (local.get $stop) (local.get $dst)))
        (local.set $src (local.get $stop))
        (br $blocks)))
    (call $bytes (local.get $src) (local.get $end) (local.get $dst)))
  (func $bytes (param $src i32) (param $stop i32) (param $dst i32) (result i32)
    (local $b i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $src) (local.get $stop)))
        (local.set $b (i32.load8_u (local.get $src)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (if (i32.and (i32.ge_u (local.get $b) (i32.const 0x20))
                     (i32.and (i32.ne (local.get $b) (i32.const 0x22)) (i32.ne (local.get $b) (i32.const 0x5c))))
          (then
            (i32.store8 (local.get $dst) (local.get $b))
            (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
            (br $each)))
        (i32.store8 (local.get $dst) (i32.const 0x5c))
        (if (i32.eq (local.get $b) (i32.const 0x22)) (then (i32.store8 offset=1 (local.get $dst) (i32.const 0x22)) (local.set $dst (i32.add (local.get $dst) (i32.const 2))) (br $each)))
        (if (i32.eq (local.get $b) (i32.const 0x5c)) (then (i32.store8 offset=1 (local.get $dst) (i32.const 0x5c)) (local.set $dst (i32.add (local.get $dst) (i32.const 2))) (br $each)))
        (if (i32.eq (local.get $b) (i32.const 0x0a)) (then (i32.store8 offset=1 (local.get $dst) (i32.const 0x6e)) (local.set $dst (i32.add (local.get $dst) (i32.const 2))) (br $each)))
        (if (i32.eq (local.get $b) (i32.const 0x0d)) (then (i32.store8 offset=1 (local.get $dst) (i32.const 0x72)) (local.set $dst (i32.add (local.get $dst) (i32.const 2))) (br $each)))
        (if (i32.eq (local.get $b) (i32.const 0x09)) (then (i32.store8 offset=1 (local.get $dst) (i32.const 0x74)) (local.set $dst (i32.add (local.get $dst) (i32.const 2))) (br $each)))
        (if (i32.eq (local.get $b) (i32.const 0x08)) (then (i32.store8 offset=1 (local.get $dst) (i32.const 0x62)) (local.set $dst (i32.add (local.get $dst) (i32.const 2))) (br $each)))
        (if (i32.eq (local.get $b) (i32.const 0x0c)) (then (i32.store8 offset=1 (local.get $dst) (i32.const 0x66)) (local.set $dst (i32.add (local.get $dst) (i32.const 2))) (br $each)))
        ;; \u00XX, lower-case hex as JSON.stringify writes it
        (i32.store8 offset=1 (local.get $dst) (i32.const 0x75))
        (i32.store8 offset=2 (local.get $dst) (i32.const 0x30))
        (i32.store8 offset=3 (local.get $dst) (i32.const 0x30))
        (i32.store8 offset=4 (local.get $dst) (i32.add (i32.const 0x30) (i32.shr_u (local.get $b) (i32.const 4))))
        (i32.store8 offset=5 (local.get $dst)
          (select
            (i32.add (i32.const 0x57) (i32.and (local.get $b) (i32.const 15)))
            (i32.add (i32.const 0x30) (i32.and (local.get $b) (i32.const 15)))
            (i32.ge_u (i32.and (local.get $b) (i32.const 15)) (i32.const 10))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 6)))
        (br $each)))
    (local.get $dst))
)
