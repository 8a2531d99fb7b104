// RUN: tailor-opt %s --split-input-file --pass-pipeline="builtin.module(convert-scf-to-openmp,func.func(tailor-gate-parallel-regions),canonicalize)" | FileCheck %s
// RUN: tailor-opt %s --split-input-file --pass-pipeline="builtin.module(convert-scf-to-openmp,func.func(tailor-gate-parallel-regions{min-work=0}))" | FileCheck %s --check-prefix=OFF

// Rows of a dynamic count, 24 vector copies each: the work (rows x (24 x
// 3 + 2) operations, + 1) is computed before the region and compared with
// min-work; below it, OpenMP runs the region on the calling thread.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK-DAG: %[[MIN:.*]] = arith.constant 16384 : index
// CHECK-DAG: %[[PER_ROW:.*]] = arith.constant 74 : index
// CHECK: %[[N:.*]] = memref.dim
// CHECK: %[[ROWS:.*]] = arith.maxsi %[[N]], %{{.*}} : index
// CHECK: %[[W:.*]] = arith.muli %[[ROWS]], %[[PER_ROW]] : index
// CHECK: %[[W1:.*]] = arith.addi %[[W]], %{{.*}} : index
// CHECK: %[[BIG:.*]] = arith.cmpi sge, %[[W1]], %[[MIN]] : index
// CHECK: omp.parallel if(%[[BIG]])
// OFF-LABEL: func.func @dynamic_rows
// OFF: omp.parallel {
func.func @dynamic_rows(%x: memref<?x384xf32>, %y: memref<?x384xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c384 = arith.constant 384 : index
  %n = memref.dim %x, %c0 : memref<?x384xf32>
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    scf.for %j = %c0 to %c384 step %c16 {
      %v = vector.load %x[%i, %j] : memref<?x384xf32>, vector<16xf32>
      vector.store %v, %y[%i, %j] : memref<?x384xf32>, vector<16xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A constant work below min-work: always on one thread.
// CHECK-LABEL: func.func @small_static
// CHECK: %[[FALSE:.*]] = arith.constant false
// CHECK: omp.parallel if(%[[FALSE]])
func.func @small_static(%x: memref<4x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    scf.for %j = %c0 to %c64 step %c1 {
      memref.store %f, %x[%i, %j] : memref<4x64xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A constant work at or above min-work: left as it is.
// CHECK-LABEL: func.func @large_static
// CHECK-NOT: arith.cmpi
// CHECK: omp.parallel {
func.func @large_static(%x: memref<512x512xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c512 = arith.constant 512 : index
  %f = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%c512) step (%c1) {
    scf.for %j = %c0 to %c512 step %c1 {
      memref.store %f, %x[%i, %j] : memref<512x512xf32>
    }
    scf.reduce
  }
  return
}

// -----

// The inner bound depends on the row (a tile's remainder): evaluated at
// the first row. An scf.if counts both branches.
// CHECK-LABEL: func.func @first_iteration
// CHECK: affine.min
// CHECK: arith.cmpi sge
// CHECK: omp.parallel if(
func.func @first_iteration(%x: memref<?xf32>, %n: index, %flag: i1) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %f = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%n) step (%c128) {
    %len = affine.min affine_map<(d0)[s0] -> (128, s0 - d0)>(%i)[%n]
    scf.for %j = %c0 to %len step %c1 {
      scf.if %flag {
        memref.store %f, %x[%j] : memref<?xf32>
      } else {
        memref.store %f, %x[%i] : memref<?xf32>
      }
    }
    scf.reduce
  }
  return
}

// -----

// A bound loaded from memory cannot be estimated: the region stays
// parallel.
// CHECK-LABEL: func.func @loaded_bound
// CHECK-NOT: arith.cmpi
// CHECK: omp.parallel {
func.func @loaded_bound(%x: memref<?xf32>, %b: memref<?xindex>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?xf32>
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %m = memref.load %b[%i] : memref<?xindex>
    scf.for %j = %c0 to %m step %c1 {
      memref.store %f, %x[%j] : memref<?xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A call (a micro-kernel's product) stays parallel, however small.
// CHECK-LABEL: func.func @kernel_call
// CHECK-NOT: arith.cmpi
// CHECK: omp.parallel {
func.func private @tailor_kernel(memref<4xf32>)
func.func @kernel_call(%x: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
    func.call @tailor_kernel(%x) : (memref<4xf32>) -> ()
    scf.reduce
  }
  return
}
