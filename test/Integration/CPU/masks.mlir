// Masks end to end (docs/language.md): with diag = i + Lk - Lq, key j is visible to
// query i when causal: j <= diag; window_left[h]: j >= diag - wl (-1 =
// unbounded); window_right[h]: j <= diag + wr; sinks: j < sink_tokens is
// visible whatever the windows, causal still applies. Rows with no visible
// key must give o = 0. Per-head windows mix local and global heads.
// RUN: rm -rf %t && mkdir -p %t
// RUN: mha-compile %s --isa=host --target=cpu -o %t/libmasks.so

// Causal, Lq < Lk, Lq > Lk (the first Lq - Lk rows see no key), decode.
// RUN: mha-check %t/libmasks.so --fn causal --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --causal
// RUN: mha-check %t/libmasks.so --fn causal --dtype f32 --B 2 --Hq 4 --Lq 53 --Lk 37 --D 16 --causal --threads 3
// RUN: mha-check %t/libmasks.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 1 --Lk 77 --D 16 --causal
// RUN: mha-check %t/libmasks.so --fn causal --dtype f32 --B 1 --Hq 4 --Lq 150 --Lk 150 --D 16 --causal --threads 3
func.func @causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                  %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Per-head left windows, 0 (only the diagonal) and -1 (global) included,
// without causal (so keys after the diagonal stay visible).
// RUN: mha-check %t/libmasks.so --fn window_left --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --window-left 0,3,17,-1
// RUN: mha-check %t/libmasks.so --fn window_left --dtype f32 --B 1 --Hq 4 --Lq 100 --Lk 30 --D 16 --window-left 0,3,17,-1 --threads 3
func.func @window_left(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                       %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {window_left = array<i64: 0, 3, 17, -1>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Right windows alone: with Lq > Lk the first rows' windows end before key 0.
// RUN: mha-check %t/libmasks.so --fn window_right --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --window-right 0,1,7,-1
// RUN: mha-check %t/libmasks.so --fn window_right --dtype f32 --B 1 --Hq 4 --Lq 70 --Lk 20 --D 16 --window-right 0,1,7,-1
func.func @window_right(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                        %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {window_right = array<i64: 0, 1, 7, -1>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Both windows (a band around the diagonal), one shared value.
// RUN: mha-check %t/libmasks.so --fn band --dtype f32 --B 2 --Hq 4 --Lq 64 --Lk 64 --D 16 --window-left 5 --window-right 2 --threads 3
func.func @band(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {window_left = array<i64: 5>,
                                 window_right = array<i64: 2>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Sinks with causal local/global heads (StreamingLLM); with Lq > Lk the
// causal mask still hides the sinks from the first rows.
// RUN: mha-check %t/libmasks.so --fn sinks_causal --dtype f32 --B 2 --Hq 4 --Lq 64 --Lk 64 --D 16 --causal --sinks 3 --window-left 5,-1,0,12
// RUN: mha-check %t/libmasks.so --fn sinks_causal --dtype f32 --B 1 --Hq 4 --Lq 37 --Lk 131 --D 16 --causal --sinks 3 --window-left 5,-1,0,12 --threads 3
// RUN: mha-check %t/libmasks.so --fn sinks_causal --dtype f32 --B 1 --Hq 4 --Lq 70 --Lk 40 --D 16 --causal --sinks 3 --window-left 5,-1,0,12
// RUN: mha-check %t/libmasks.so --fn sinks_causal --dtype f32 --B 1 --Hq 4 --Lq 2 --Lk 2 --D 16 --causal --sinks 3 --window-left 5,-1,0,12
func.func @sinks_causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                        %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal, sink_tokens = 3,
                                 window_left = array<i64: 5, -1, 0, 12>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Sinks with two-sided windows and no causal mask: sinks are visible even
// where the right window would hide them (Lq > Lk).
// RUN: mha-check %t/libmasks.so --fn sinks_band --dtype f32 --B 2 --Hq 4 --Lq 53 --Lk 37 --D 16 --sinks 2 --window-left 3 --window-right 1
func.func @sinks_band(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                      %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {sink_tokens = 2, window_left = array<i64: 3>,
                                 window_right = array<i64: 1>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}

// Windows and sinks wider than the sequence change nothing.
// RUN: mha-check %t/libmasks.so --fn wide --dtype f32 --B 2 --Hq 4 --Lq 37 --Lk 53 --D 16 --causal --sinks 100 --window-left 1000 --window-right 1000
// RUN: mha-check %t/libmasks.so --fn wide --dtype f32 --B 2 --Hq 4 --Lq 53 --Lk 37 --D 16 --causal --sinks 100 --window-left 1000 --window-right 1000
func.func @wide(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>,
                %v: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mha.attention %q, %k, %v {causal, sink_tokens = 100,
                                 window_left = array<i64: 1000>,
                                 window_right = array<i64: 1000>}
       : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
       -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
