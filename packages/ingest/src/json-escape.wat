;; The JSON writers of `json-escape.ts`: `escape`, the body of `JSON.stringify(text)` (no quotes)
;; from the UTF-8 bytes of a well-formed text, 16 bytes at a time with SIMD where none needs
;; escaping; `floats`, a float32 vector as a JSON array of values of at most 9 digits.
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

  ;; floats(src, count, dst) -> end: "[v0,v1,...]" for `count` float32 values at src, each
  ;; written with 9 significant digits at most (trailing zeros dropped), which parses back to the
  ;; same float32 (9 digits always do); in JavaScript's notation (fixed from 1e-6 to 1e21, else an
  ;; exponent), `null` for NaN and infinities as JSON.stringify writes them. Powers of ten
  ;; 1e-46 .. 1e54 are read at bytes 0 .. 807 (written there by json-escape.ts).
  (func (export "floats") (param $src i32) (param $count i32) (param $dst i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (i32.store8 (local.get $dst) (i32.const 0x5b))
    (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $dst (call $float (f32.load (local.get $src)) (local.get $dst)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (if (i32.lt_u (local.get $src) (local.get $end))
          (then
            (i32.store8 (local.get $dst) (i32.const 0x2c))
            (local.set $dst (i32.add (local.get $dst) (i32.const 1)))))
        (br $each)))
    (i32.store8 (local.get $dst) (i32.const 0x5d))
    (i32.add (local.get $dst) (i32.const 1)))

  (func $pow (param $k i32) (result f64)
    (f64.load (i32.shl (i32.add (local.get $k) (i32.const 46)) (i32.const 3))))

  (func $float (param $x f32) (param $dst i32) (result i32)
    (local $a f64) (local $e i32) (local $m i64) (local $digits i32) (local $k i32)
    (local $i i32) (local $n i32)
    ;; NaN and infinities: null
    (if (i32.eq (i32.and (i32.reinterpret_f32 (local.get $x)) (i32.const 0x7f800000)) (i32.const 0x7f800000))
      (then
        (i32.store (local.get $dst) (i32.const 0x6c6c756e)) ;; "null"
        (return (i32.add (local.get $dst) (i32.const 4)))))
    (if (f32.eq (local.get $x) (f32.const 0))
      (then
        (i32.store8 (local.get $dst) (i32.const 0x30))
        (return (i32.add (local.get $dst) (i32.const 1)))))
    (if (f32.lt (local.get $x) (f32.const 0))
      (then
        (i32.store8 (local.get $dst) (i32.const 0x2d))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))))
    (local.set $a (f64.promote_f32 (f32.abs (local.get $x))))
    ;; e = floor(log10(a)): estimated from the binary exponent, then corrected
    (local.set $e
      (i32.div_s
        (i32.mul
          (i32.sub (i32.and (i32.shr_u (i32.reinterpret_f32 (local.get $x)) (i32.const 23)) (i32.const 0xff)) (i32.const 127))
          (i32.const 30103))
        (i32.const 100000)))
    (block $high (loop $up
      (br_if $high (f64.lt (local.get $a) (call $pow (i32.add (local.get $e) (i32.const 1)))))
      (local.set $e (i32.add (local.get $e) (i32.const 1)))
      (br $up)))
    (block $low (loop $down
      (br_if $low (f64.ge (local.get $a) (call $pow (local.get $e))))
      (local.set $e (i32.sub (local.get $e) (i32.const 1)))
      (br $down)))
    ;; m: the 9 significant digits
    (local.set $m (i64.trunc_f64_u (f64.nearest (f64.mul (local.get $a) (call $pow (i32.sub (i32.const 8) (local.get $e)))))))
    (if (i64.ge_u (local.get $m) (i64.const 1000000000))
      (then
        (local.set $m (i64.div_u (local.get $m) (i64.const 10)))
        (local.set $e (i32.add (local.get $e) (i32.const 1)))))
    ;; the digits at 1000..1008 (scratch), trailing zeros dropped: $k of them
    (local.set $digits (i32.const 1000))
    (local.set $i (i32.const 8))
    (loop $write
      (i32.store8 (i32.add (local.get $digits) (local.get $i))
        (i32.add (i32.const 0x30) (i32.wrap_i64 (i64.rem_u (local.get $m) (i64.const 10)))))
      (local.set $m (i64.div_u (local.get $m) (i64.const 10)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $write (i32.ge_s (local.get $i) (i32.const 0))))
    (local.set $k (i32.const 9))
    (block $trimmed (loop $trim
      (br_if $trimmed (i32.le_u (local.get $k) (i32.const 1)))
      (br_if $trimmed (i32.ne (i32.load8_u (i32.add (local.get $digits) (i32.sub (local.get $k) (i32.const 1)))) (i32.const 0x30)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $trim)))
    ;; n = e + 1: where the decimal point goes
    (local.set $n (i32.add (local.get $e) (i32.const 1)))
    (if (i32.and (i32.ge_s (local.get $n) (i32.const -5)) (i32.le_s (local.get $n) (i32.const 21)))
      (then
        (if (i32.le_s (local.get $n) (i32.const 0))
          (then
            ;; 0.000ddd
            (i32.store16 (local.get $dst) (i32.const 0x2e30)) ;; "0."
            (local.set $dst (i32.add (local.get $dst) (i32.const 2)))
            (local.set $i (local.get $n))
            (block $z (loop $zeros
              (br_if $z (i32.ge_s (local.get $i) (i32.const 0)))
              (i32.store8 (local.get $dst) (i32.const 0x30))
              (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $zeros)))
            (return (call $copy (local.get $digits) (local.get $k) (local.get $dst)))))
        (if (i32.ge_s (local.get $n) (local.get $k))
          (then
            ;; ddd000
            (local.set $dst (call $copy (local.get $digits) (local.get $k) (local.get $dst)))
            (local.set $i (i32.sub (local.get $n) (local.get $k)))
            (block $z2 (loop $zeros2
              (br_if $z2 (i32.le_s (local.get $i) (i32.const 0)))
              (i32.store8 (local.get $dst) (i32.const 0x30))
              (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
              (local.set $i (i32.sub (local.get $i) (i32.const 1)))
              (br $zeros2)))
            (return (local.get $dst))))
        ;; dd.ddd
        (local.set $dst (call $copy (local.get $digits) (local.get $n) (local.get $dst)))
        (i32.store8 (local.get $dst) (i32.const 0x2e))
        (return (call $copy (i32.add (local.get $digits) (local.get $n)) (i32.sub (local.get $k) (local.get $n)) (i32.add (local.get $dst) (i32.const 1))))))
    ;; d.ddde+x / d.ddde-x
    (i32.store8 (local.get $dst) (i32.load8_u (local.get $digits)))
    (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
    (if (i32.gt_u (local.get $k) (i32.const 1))
      (then
        (i32.store8 (local.get $dst) (i32.const 0x2e))
        (local.set $dst (call $copy (i32.add (local.get $digits) (i32.const 1)) (i32.sub (local.get $k) (i32.const 1)) (i32.add (local.get $dst) (i32.const 1))))))
    (i32.store8 (local.get $dst) (i32.const 0x65)) ;; e
    (i32.store8 offset=1 (local.get $dst) (select (i32.const 0x2d) (i32.const 0x2b) (i32.lt_s (local.get $e) (i32.const 0))))
    (local.set $dst (i32.add (local.get $dst) (i32.const 2)))
    (if (i32.lt_s (local.get $e) (i32.const 0)) (then (local.set $e (i32.sub (i32.const 0) (local.get $e)))))
    (if (i32.ge_u (local.get $e) (i32.const 10))
      (then
        (i32.store8 (local.get $dst) (i32.add (i32.const 0x30) (i32.div_u (local.get $e) (i32.const 10))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))))
    (i32.store8 (local.get $dst) (i32.add (i32.const 0x30) (i32.rem_u (local.get $e) (i32.const 10))))
    (i32.add (local.get $dst) (i32.const 1)))

  (func $copy (param $from i32) (param $length i32) (param $dst i32) (result i32)
    (memory.copy (local.get $dst) (local.get $from) (local.get $length))
    (i32.add (local.get $dst) (local.get $length)))
)
