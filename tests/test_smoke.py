import anygrad


def test_a_quadratic_has_the_textbook_gradient(backend):
    x = anygrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x * x + 2 * x).sum().backward()
    assert anygrad.to_numpy(x.grad).tolist() == [[4.0, 6.0], [8.0, 10.0]]
    assert x.backend == backend.name
