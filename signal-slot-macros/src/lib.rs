//! Procedural macros of [`signal-slot`](https://docs.rs/signal-slot).
//!
//! This crate is an implementation detail: use the macros through the
//! re-exports of the `signal-slot` crate. The pipeline follows the usual
//! shape of a derive crate: `ast` parses the user's item into a small model,
//! checking it and collecting every error with its span, and `expand`
//! generates the code. All logic that can live in the runtime crate does; the
//! generated code only wires the user's types to it.

mod ast;
mod expand;
mod process;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Turns a struct into an event loop object, and one `impl` block of it into
/// its signals and slots. Documented (with examples) where `signal-slot`
/// re-exports it: use it from there.
#[proc_macro_attribute]
pub fn event_loop_object(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let input = proc_macro2::TokenStream::from(input);
    let output = match syn::parse2::<syn::Item>(input) {
        Ok(syn::Item::Struct(item)) => match ast::ObjectStruct::parse(args, item) {
            Ok(object) => expand::object_struct(&object),
            Err(rejected) => with_errors(rejected.0, rejected.1),
        },
        Ok(syn::Item::Impl(item)) => match ast::ObjectImpl::parse(args, item) {
            Ok(object) => expand::object_impl(&object),
            // The sanitized item keeps the user's methods (without the
            // signal declarations, which are not valid Rust on their own), so
            // that the only errors shown are ours.
            Err(rejected) => with_errors(rejected.0, rejected.1),
        },
        Ok(other) => {
            let error = syn::Error::new_spanned(
                ast::item_head(&other),
                "#[event_loop_object] applies to a struct (the object) and to one inherent \
                 `impl` block of it (its signals and slots)",
            );
            with_errors(error, other)
        }
        Err(error) => error.to_compile_error(),
    };
    output.into()
}

/// Registers an init function for processes started by spawn. Documented
/// where `signal-slot` re-exports it.
#[proc_macro_attribute]
pub fn init(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    match syn::parse::<syn::ItemFn>(input) {
        Ok(item) => process::init(args, item).unwrap_or_else(|error| error.to_compile_error()),
        Err(error) => error.to_compile_error(),
    }
    .into()
}

/// Makes `main` take its role first when it runs as a child process
/// started by spawn. Documented where `signal-slot` re-exports it.
#[proc_macro_attribute]
pub fn main(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    match syn::parse::<syn::ItemFn>(input) {
        Ok(item) => process::main(args, item).unwrap_or_else(|error| error.to_compile_error()),
        Err(error) => error.to_compile_error(),
    }
    .into()
}

fn with_errors(errors: syn::Error, item: impl ToTokens) -> proc_macro2::TokenStream {
    let mut tokens = errors.to_compile_error();
    item.to_tokens(&mut tokens);
    tokens
}
