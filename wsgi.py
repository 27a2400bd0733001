from h5app import create_app

app = create_app()
