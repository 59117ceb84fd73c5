//! (being written)

/// The two image streams of a device that carry a device timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameKind {
    Colour,
    Depth,
}

/// One value per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PerStream<T> {
    pub colour: T,
    pub depth: T,
}

impl<T> PerStream<T> {
    pub const fn get(&self, stream: FrameKind) -> &T {
        match stream {
            FrameKind::Colour => &self.colour,
            FrameKind::Depth => &self.depth,
        }
    }

    pub fn get_mut(&mut self, stream: FrameKind) -> &mut T {
        match stream {
            FrameKind::Colour => &mut self.colour,
            FrameKind::Depth => &mut self.depth,
        }
    }
}
