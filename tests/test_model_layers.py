import pytest
import torch

from choirrec.models.group_id_fusion import HierarchicalGroupIdFusion
from choirrec.models.layers import MLP, TargetAttention, embedding


def test_padding_embeds_to_zero_and_gets_no_gradient():
    e = embedding(10, 4)
    out = e(torch.tensor([0, 3]))
    assert torch.all(out[0] == 0)
    out.sum().backward()
    assert torch.all(e.weight.grad[0] == 0) and e.weight.grad[3].abs().sum() > 0


def test_target_attention_ignores_padding_and_empty_history_is_zero():
    torch.manual_seed(0)
    att = TargetAttention(8)
    seq = torch.randn(2, 5, 8)
    q = torch.randn(2, 8)
    mask = torch.tensor([[True, True, False, False, False], [False] * 5])
    out = att(seq, q, mask)
    seq2 = seq.clone()
    seq2[0, 2:] = torch.randn(3, 8)  # change only padded positions
    assert torch.allclose(att(seq2, q, mask)[0], out[0])
    assert torch.all(out[1] == 0)
    assert out.shape == (2, 8)


def test_target_attention_fast_form_equals_the_textbook_form():
    """The decomposed first layer and the dropped all-padding columns change nothing: values
    and gradients equal the (B, L, 4D) concatenation's, including all-padding rows."""
    torch.manual_seed(1)
    att = TargetAttention(6, (10, 4))
    seq = torch.randn(5, 7, 6, requires_grad=True)
    q = torch.randn(5, 6, requires_grad=True)
    mask = torch.rand(5, 7) > 0.4
    mask[:, 0] = False  # a column of padding in every row (dropped)
    mask[3] = False  # an empty history
    fast, ref = att(seq, q, mask), att.reference(seq, q, mask)
    assert torch.allclose(fast, ref, atol=1e-6)
    g_fast = torch.autograd.grad(fast.square().sum(), [seq, q, *att.parameters()])
    g_ref = torch.autograd.grad(ref.square().sum(), [seq, q, *att.parameters()])
    for a, b in zip(g_fast, g_ref, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    none = torch.zeros(5, 7, dtype=torch.bool)
    assert torch.equal(att(seq, q, none), torch.zeros(5, 6))


def test_mean_pooling_divides_by_the_real_positions():
    torch.manual_seed(2)
    seq, q = torch.randn(3, 4, 6), torch.randn(3, 6)
    mask = torch.tensor([[True] * 4, [True, False, False, False], [False] * 4])
    s_att, m_att = TargetAttention(6, pooling="sum"), TargetAttention(6, pooling="mean")
    m_att.load_state_dict(s_att.state_dict())
    summed, mean = s_att(seq, q, mask), m_att(seq, q, mask)
    assert torch.allclose(mean, summed / torch.tensor([[4.0], [1.0], [1.0]]))
    assert torch.allclose(m_att.reference(seq, q, mask), mean, atol=1e-6)
    with pytest.raises(ValueError, match="pooling 'max'"):
        TargetAttention(6, pooling="max")


def test_group_id_fusion_is_hierarchical_and_normalised():
    torch.manual_seed(0)
    f = HierarchicalGroupIdFusion(3, 16, 8, 12)
    codes = torch.tensor([[1, 2, 3], [1, 2, 4], [1, 5, 6], [9, 9, 9], [-1, -1, -1]])
    e = f(codes)
    assert e.shape == (5, 12) and torch.allclose(e.norm(dim=-1), torch.ones(5), atol=1e-5)
    # the level-1 fused vector is the base embedding (eq. 5: e_fuse^1 = e_base^1)
    assert torch.equal(f.base[0](codes[:, 0].long() + 1)[0], f.base[0].weight[2])
    # every level matters
    assert not torch.allclose(e[0], e[1]) and not torch.allclose(e[0], e[2])
    assert MLP(4, (8,), 2)(torch.randn(3, 4)).shape == (3, 2)
