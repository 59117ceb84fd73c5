//! The declarative parts of the wire layer: enums with an unknown fallback defined from one
//! list, packet views and their field accessors generated from the packet's field table.
//!
//! Modelled on smoltcp's `enum_with_unknown!`: a code and its name are written once, and both
//! conversions (`from_raw`, `raw`, the `From` impls) and the little-endian field impl follow.

/// An enum over the named values of a raw integer plus an unknown variant that keeps any
/// other value, so a parse followed by an emit reproduces the device's bytes.
///
/// With `, $info -> Type` each row also carries a constant of that type, returned by the
/// generated `const fn $info(self) -> Option<Type>` (`None` for unknown values).
macro_rules! enum_with_unknown {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($raw:ty), $(#[$uattr:meta])* unknown $unknown:ident {
            $( $(#[$vattr:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            $(#[$uattr])*
            $unknown($raw),
        }

        impl $name {
            /// Every named value, in list order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            #[inline]
            pub const fn from_raw(raw: $raw) -> Self {
                match raw {
                    $($value => $name::$variant,)+
                    other => $name::$unknown(other),
                }
            }

            #[inline]
            pub const fn raw(self) -> $raw {
                match self {
                    $($name::$variant => $value,)+
                    $name::$unknown(raw) => raw,
                }
            }
        }

        impl From<$raw> for $name {
            #[inline]
            fn from(raw: $raw) -> Self {
                Self::from_raw(raw)
            }
        }

        impl From<$name> for $raw {
            #[inline]
            fn from(value: $name) -> Self {
                value.raw()
            }
        }

        impl $crate::wire::field::LeValue for $name {
            const LEN: usize = <$raw as $crate::wire::field::LeValue>::LEN;

            #[inline(always)]
            fn read(buf: &[u8], field: $crate::wire::field::Field) -> Self {
                Self::from_raw(<$raw as $crate::wire::field::LeValue>::read(buf, field))
            }

            #[inline(always)]
            fn write(self, buf: &mut [u8], field: $crate::wire::field::Field) {
                $crate::wire::field::LeValue::write(self.raw(), buf, field);
            }
        }
    };
    (
        $(#[$attr:meta])*
        pub enum $name:ident($raw:ty), $(#[$uattr:meta])* unknown $unknown:ident,
        $info:ident -> $info_ty:ty {
            $( $(#[$vattr:meta])* $variant:ident = $value:literal => $row:expr ),+ $(,)?
        }
    ) => {
        enum_with_unknown! {
            $(#[$attr])*
            pub enum $name($raw), $(#[$uattr])* unknown $unknown {
                $( $(#[$vattr])* $variant = $value ),+
            }
        }

        impl $name {
            /// This value's row of the table; `None` for unknown values.
            #[inline]
            pub const fn $info(self) -> Option<$info_ty> {
                match self {
                    $($name::$variant => Some($row),)+
                    $name::$unknown(_) => None,
                }
            }
        }
    };
}

/// An enum over a closed list of values: `ALL`, an array in list order, and one column, the
/// `const fn $info(self) -> Type` whose value each row gives after `=>`.
macro_rules! enum_with_info {
    (
        $(#[$attr:meta])*
        pub enum $name:ident, $(#[$iattr:meta])* $info:ident -> $info_ty:ty {
            $( $(#[$vattr:meta])* $variant:ident => $row:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
        }

        impl $name {
            /// Every value, in list order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            $(#[$iattr])*
            #[inline]
            pub const fn $info(self) -> $info_ty {
                match self {
                    $($name::$variant => $row,)+
                }
            }
        }
    };
}

/// [`LeValue`](crate::wire::field::LeValue) for newtypes over a little-endian value, stored as
/// that value: `le_newtype!(Ticks90k => u64)`.
macro_rules! le_newtype {
    ($($ty:ty => $inner:ty),+ $(,)?) => {$(
        impl $crate::wire::field::LeValue for $ty {
            const LEN: usize = <$inner as $crate::wire::field::LeValue>::LEN;

            #[inline]
            fn read(buf: &[u8], field: $crate::wire::field::Field) -> Self {
                Self(<$inner as $crate::wire::field::LeValue>::read(buf, field))
            }

            #[inline]
            fn write(self, buf: &mut [u8], field: $crate::wire::field::Field) {
                $crate::wire::field::LeValue::write(self.0, buf, field);
            }
        }
    )+};
}

/// A zero-copy view over a byte buffer: the struct, `new_unchecked`, `new_checked` (which runs
/// the view's own `check_len`, or the check named after `checked by`) and `into_inner`.
macro_rules! view {
    ($(#[$attr:meta])* pub struct $view:ident;) => {
        view! { $(#[$attr])* pub struct $view, checked by check_len; }
    };
    ($(#[$attr:meta])* pub struct $view:ident, checked by $check:ident;) => {
        $(#[$attr])*
        pub struct $view<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $view<T> {
            /// Wraps a buffer without checking it; accessors on a short buffer read zeros.
            #[inline]
            pub const fn new_unchecked(buffer: T) -> Self {
                $view { buffer }
            }

            /// Wraps a buffer after checking it.
            #[inline]
            pub fn new_checked(buffer: T) -> $crate::error::Result<Self> {
                let view = Self::new_unchecked(buffer);
                view.$check()?;
                Ok(view)
            }

            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}

/// Field accessors of a view, one line per field of its `mod field` table: `getter: Type =
/// range;` reads, `getter, setter: Type = range;` also writes. The type fixes the width, which
/// must match the range's (a debug assertion; see [`field::get`](crate::wire::field::get)).
///
/// `impl View => Repr { … }` also defines the representation holding those fields, with
/// private `read`/`write`; a row ending `=> value` is a constant the representation leaves out
/// and `write` emits. With `Repr: LEN, PACKET, checked by check` it also gets `parse` (the
/// view's `check`, then every field), `buffer_len` (`LEN`) and `emit` (room for `LEN` bytes of
/// `PACKET`, then `write`).
///
/// `impl [u8] => Repr: LEN, PACKET, "what" { getter: Type = range; … }` is a representation
/// read from and written to a plain byte slice, with `LEN`, `parse` (at least `LEN` bytes, or
/// `what` is truncated), `buffer_len` and `emit`.
macro_rules! fields {
    (
        impl $view:ident {
            $( $(#[$doc:meta])* $get:ident $(, $set:ident)? : $ty:ty = $field:expr; )+
        }
    ) => {
        impl<T: AsRef<[u8]>> $view<T> {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $get(&self) -> $ty {
                    $crate::wire::field::get(self.buffer.as_ref(), $field)
                }
            )+
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $view<T> {
            $($(
                #[inline]
                pub fn $set(&mut self, value: $ty) {
                    $crate::wire::field::set(self.buffer.as_mut(), $field, value);
                }
            )?)+
        }
    };
    (
        impl $view:ident => $(#[$repr_attr:meta])* $repr:ident
            $(: $len:expr, $packet:expr, checked by $check:ident)? {
            $( $(#[$doc:meta])* $get:ident, $set:ident : $ty:ty = $field:expr $(=> $fixed:expr)?; )+
        }
    ) => {
        fields! { impl $view { $( $(#[$doc])* $get, $set: $ty = $field; )+ } }
        fields! {
            @repr $view, [$(#[$repr_attr])*] $repr, [], [];
            $( $(#[$doc])* $get, $set: $ty = $field $(=> $fixed)?; )+
        }

        $(
            impl $repr {
                /// Reads a view after its checks.
                #[inline]
                pub fn parse<T: AsRef<[u8]>>(view: &$view<T>) -> $crate::error::Result<Self> {
                    view.$check()?;
                    Ok(Self::read(view))
                }

                #[inline]
                pub const fn buffer_len(&self) -> usize {
                    $len
                }

                /// Writes every field, constants included, into the start of the view.
                #[inline]
                pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
                    &self,
                    view: &mut $view<T>,
                ) -> $crate::error::Result<()> {
                    $crate::wire::field::room($packet, view.buffer.as_ref().len(), $len)?;
                    self.write(view);
                    Ok(())
                }
            }
        )?
    };
    (
        impl [u8] => $(#[$repr_attr:meta])* $repr:ident: $len:expr, $packet:expr, $whole:literal {
            $( $(#[$doc:meta])* $get:ident : $ty:ty = $field:expr; )+
        }
    ) => {
        $(#[$repr_attr])*
        pub struct $repr {
            $( $(#[$doc])* pub $get: $ty, )+
        }

        impl $repr {
            /// Length on the wire.
            pub const LEN: usize = $len;

            #[inline]
            pub const fn buffer_len(&self) -> usize {
                Self::LEN
            }

            /// Reads the first [`LEN`](Self::LEN) bytes; any beyond are ignored.
            #[inline]
            pub fn parse(bytes: &[u8]) -> $crate::error::Result<Self> {
                $crate::wire::field::check_len($packet, $whole, bytes.len(), Self::LEN)?;
                Ok($repr { $( $get: $crate::wire::field::get(bytes, $field), )+ })
            }

            /// Writes the [`LEN`](Self::LEN) bytes at the start of `buf`.
            #[inline]
            pub fn emit(&self, buf: &mut [u8]) -> $crate::error::Result<()> {
                $crate::wire::field::room($packet, buf.len(), Self::LEN)?;
                $( $crate::wire::field::set(buf, $field, self.$get); )+
                Ok(())
            }
        }
    };
    // The rows of the representation and the constants, sorted one row at a time.
    (
        @repr $view:ident, $attrs:tt $repr:ident, [$($rows:tt)*], [$($fixed:tt)*];
        $(#[$doc:meta])* $get:ident, $set:ident : $ty:ty = $field:expr => $value:expr;
        $($rest:tt)*
    ) => {
        fields! { @repr $view, $attrs $repr, [$($rows)*], [$($fixed)* $set($value)]; $($rest)* }
    };
    (
        @repr $view:ident, $attrs:tt $repr:ident, [$($rows:tt)*], [$($fixed:tt)*];
        $(#[$doc:meta])* $get:ident, $set:ident : $ty:ty = $field:expr;
        $($rest:tt)*
    ) => {
        fields! {
            @repr $view, $attrs $repr, [$($rows)* $(#[$doc])* $get, $set: $ty;], [$($fixed)*];
            $($rest)*
        }
    };
    (
        @repr $view:ident, [$(#[$repr_attr:meta])*] $repr:ident,
        [$( $(#[$doc:meta])* $get:ident, $set:ident : $ty:ty; )+],
        [$( $fixed_set:ident($value:expr) )*];
    ) => {
        $(#[$repr_attr])*
        pub struct $repr {
            $( $(#[$doc])* pub $get: $ty, )+
        }

        impl $repr {
            /// Every field of the view, as read.
            #[inline]
            fn read<T: AsRef<[u8]>>(view: &$view<T>) -> Self {
                $repr { $( $get: view.$get(), )+ }
            }

            /// Writes every field into the view, constants included.
            #[inline]
            fn write<T: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut $view<T>) {
                $( view.$fixed_set($value); )*
                $( view.$set(self.$get); )+
            }
        }
    };
}
