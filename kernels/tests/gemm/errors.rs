//! Bad shapes, views and instruction sets are typed errors.

use super::*;

#[test]
fn bad_shapes_and_views_are_typed_errors() {
    let a = vec![0.0f32; 6];
    let b = vec![0.0f32; 6];
    let mut c = vec![0.0f32; 4];
    let av = MatRef::row_major(&a, 2, 3).unwrap();
    let b_wrong = MatRef::row_major(&b, 2, 3).unwrap();
    let err = latent_kernels::sgemm(
        1.0,
        av,
        b_wrong,
        Accum::Replace,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        Par::Seq,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::ShapeMismatch {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let bv = MatRef::row_major(&b, 3, 2).unwrap();
    let mut c3 = vec![0.0f32; 6];
    let err = latent_kernels::sgemm(
        1.0,
        av,
        bv,
        Accum::Replace,
        MatMut::row_major(&mut c3, 3, 2).unwrap(),
        Par::Seq,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::ShapeMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = latent_kernels::gemm(
        1.0,
        av,
        bv,
        Accum::Replace,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        &BiasAdd::new(&[1.0; 3]),
        Par::Seq,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::LengthMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        MatRef::row_major(&a, 2, 4),
        Err(KernelError::LengthMismatch { .. })
    ));
    assert!(matches!(
        MatRef::new(&a, 3, 3, 3, 1),
        Err(KernelError::ViewOutOfBounds {
            needed: 9,
            len: 6,
            ..
        })
    ));
    assert!(matches!(
        MatRef::new(&a, 2, 2, usize::MAX, 1),
        Err(KernelError::ViewOutOfBounds { .. })
    ));
    assert!(matches!(
        MatMut::new(&mut c, 2, 2, 1, 1),
        Err(KernelError::OverlappingView { .. })
    ));
    assert!(matches!(
        MatMut::new(&mut c, 2, 2, 0, 1),
        Err(KernelError::OverlappingView { .. })
    ));
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let err = gemm_on(
            isa,
            1.0,
            av,
            bv,
            Accum::Replace,
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            &NoEpilogue,
            Par::Seq,
        )
        .unwrap_err();
        assert_eq!(err, KernelError::IsaUnavailable(isa));
    }
}
