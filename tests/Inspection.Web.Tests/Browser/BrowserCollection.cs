namespace Inspection.Web.Tests.Browser;

/// <summary>One Chromium at a time: two cores are shared with the worker the end-to-end tests run.</summary>
[CollectionDefinition("Browser", DisableParallelization = true)]
public sealed class BrowserCollection;
