{
  "targets": [
    {
      "target_name": "quackmesh_native",
      "sources": ["<!@(node -p \"require('fs').readdirSync('native/src/core').filter(f=>f.endsWith('.cc')).map(f=>'native/src/core/'+f).concat(require('fs').readdirSync('native/src/binding').filter(f=>f.endsWith('.cc')).map(f=>'native/src/binding/'+f)).join(' ')\")"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")", "native/src"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "comment": "CPU-only build through node-gyp; the supported build is cmake-js (CMakeLists.txt), which adds CUDA when nvcc is present."
    }
  ]
}
