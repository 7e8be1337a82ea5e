var app = WebApplication.Create(args);
app.MapGet("/", () => "Hello from a Windows container");
app.Run();
