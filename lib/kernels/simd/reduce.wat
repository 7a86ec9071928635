;; Column sums in WebAssembly SIMD: out[c] = Σ_r x[r, c] for row-major float32 x [rows, cols],
;; cols a multiple of 4, accumulated in float64 in row order (the order of lib/kernels/reduce.ts's
;; JavaScript loop, so the same result) into float64 out [cols]. Blocks of 4 columns (outer) keep
;; their accumulators in registers while the rows stream past (inner, stride 4·cols bytes).
(module
  (memory (export "memory") 1)

  (func (export "colsum") (param $x i32) (param $rows i32) (param $cols i32) (param $out i32)
    (local $c4 i32) (local $r i32) (local $ptr i32) (local $stride i32) (local $v v128)
    (local $s0 v128) (local $s1 v128)
    (local.set $stride (i32.shl (local.get $cols) (i32.const 2)))
    (block $done (loop $block
      (br_if $done (i32.ge_u (local.get $c4) (local.get $cols)))
      (local.set $s0 (v128.const i64x2 0 0))
      (local.set $s1 (v128.const i64x2 0 0))
      (local.set $ptr (i32.add (local.get $x) (i32.shl (local.get $c4) (i32.const 2))))
      (local.set $r (local.get $rows))
      (block $rdone (loop $row
        (br_if $rdone (i32.eqz (local.get $r)))
        (local.set $v (v128.load (local.get $ptr)))
        (local.set $s0 (f64x2.add (local.get $s0) (f64x2.promote_low_f32x4 (local.get $v))))
        (local.set $s1 (f64x2.add (local.get $s1)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
        (local.set $ptr (i32.add (local.get $ptr) (local.get $stride)))
        (local.set $r (i32.sub (local.get $r) (i32.const 1)))
        (br $row)))
      (v128.store (i32.add (local.get $out) (i32.shl (local.get $c4) (i32.const 3))) (local.get $s0))
      (v128.store offset=16 (i32.add (local.get $out) (i32.shl (local.get $c4) (i32.const 3))) (local.get $s1))
      (local.set $c4 (i32.add (local.get $c4) (i32.const 4)))
      (br $block))))
)
