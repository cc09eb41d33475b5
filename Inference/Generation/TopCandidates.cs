namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// Selects the highest-scoring token ids without sorting the whole vocabulary. Ordering is total and
/// deterministic: a higher score comes first, and on equal scores the lower id comes first.
/// </summary>
internal static class TopCandidates
{
    /// <summary>
    /// Writes the <paramref name="count"/> best ids of <paramref name="scores"/> to the start of
    /// <paramref name="destination"/>, best first, in O(V log count) time with no allocation.
    /// </summary>
    public static void Select(ReadOnlySpan<float> scores, Span<int> destination, int count)
    {
        if (count < 1 || count > scores.Length || destination.Length < count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be in [1, {Math.Min(scores.Length, destination.Length)}].");
        }

        // A binary min-heap of the best `count` ids seen so far, with the worst of them at the root.
        Span<int> heap = destination[..count];
        int size = 0;
        for (int id = 0; id < scores.Length; id++)
        {
            if (size < count)
            {
                heap[size] = id;
                SiftUp(scores, heap, size);
                size++;
            }
            else if (IsBetter(scores, id, heap[0]))
            {
                heap[0] = id;
                SiftDown(scores, heap, 0, size);
            }
        }

        // Heap sort: moving the worst remaining id to the end each time leaves the best at index 0.
        for (int end = count - 1; end > 0; end--)
        {
            (heap[0], heap[end]) = (heap[end], heap[0]);
            SiftDown(scores, heap, 0, end);
        }
    }

    /// <summary>Whether token <paramref name="a"/> ranks before token <paramref name="b"/>.</summary>
    public static bool IsBetter(ReadOnlySpan<float> scores, int a, int b) =>
        scores[a] > scores[b] || (scores[a] == scores[b] && a < b);

    private static void SiftUp(ReadOnlySpan<float> scores, Span<int> heap, int index)
    {
        while (index > 0)
        {
            int parent = (index - 1) / 2;
            if (!IsBetter(scores, heap[parent], heap[index]))
            {
                break;
            }

            (heap[parent], heap[index]) = (heap[index], heap[parent]);
            index = parent;
        }
    }

    private static void SiftDown(ReadOnlySpan<float> scores, Span<int> heap, int index, int size)
    {
        while (true)
        {
            int worst = index;
            int left = 2 * index + 1;
            int right = left + 1;
            if (left < size && IsBetter(scores, heap[worst], heap[left]))
            {
                worst = left;
            }

            if (right < size && IsBetter(scores, heap[worst], heap[right]))
            {
                worst = right;
            }

            if (worst == index)
            {
                return;
            }

            (heap[worst], heap[index]) = (heap[index], heap[worst]);
            index = worst;
        }
    }
}
